package commands

import (
	"strconv"
	"unsafe"
)

// handle joins a parse step and a run step into a Run function.
func handle[R any](parse func(args [][]byte) (R, error), run func(c *Ctx, req R)) func(c *Ctx, args [][]byte) {
	return func(c *Ctx, args [][]byte) {
		req, err := parse(args)
		if err != nil {
			c.Error(err)
			return
		}
		run(c, req)
	}
}

// argView is an argument as a string without a copy, for a lookup that
// keeps nothing: it is valid only until the command returns, when the
// reader reuses its buffer.
func argView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func parseUint(b []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, errNotInt
	}
	return n, nil
}

func parseInt(b []byte) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, errNotInt
	}
	return n, nil
}

func isWord(arg []byte, word string) bool {
	if len(arg) != len(word) {
		return false
	}
	for i := range arg {
		c := arg[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != word[i] {
			return false
		}
	}
	return true
}
