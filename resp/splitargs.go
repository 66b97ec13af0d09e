package resp

// splitArgs splits an inline command line into arguments by the rules of
// Redis's sdssplitargs, appending them to argv, and reports false for
// unbalanced quotes:
//
//   - arguments are separated by spaces, tabs, CR and LF; leading blanks may
//     also be vertical tabs and form feeds (C's isspace);
//   - in double quotes, \n \r \t \b \a and \xHH are unescaped, and a backslash
//     before any other byte stands for that byte;
//   - in single quotes, only \' is unescaped;
//   - a quote may open in the middle of an argument, but a closing quote must
//     be followed by a blank or the end of the line.
//
// Unescaped arguments are never longer than their source, so splitArgs
// writes them over line itself: the arguments alias line. line must hold no
// NUL byte, which the Reader guarantees as Redis does.
func splitArgs(argv [][]byte, line []byte) ([][]byte, bool) {
	n := len(line)
	p, o := 0, 0 // read from line[p], write to line[o]; o <= p throughout
	for {
		for p < n && isSpace(line[p]) {
			p++
		}
		if p == n {
			return argv, true
		}
		start := o
		inq, insq := false, false
		for done := false; !done; {
			c := byteAt(line, p)
			switch {
			case inq:
				switch {
				case c == '\\' && byteAt(line, p+1) == 'x' && isHex(byteAt(line, p+2)) && isHex(byteAt(line, p+3)):
					line[o] = unhex(line[p+2])<<4 | unhex(line[p+3])
					o++
					p += 3
				case c == '\\' && p+1 < n:
					p++
					line[o] = unescape(line[p])
					o++
				case c == '"':
					if p+1 < n && !isSpace(line[p+1]) {
						return argv, false
					}
					done = true
				case p == n:
					return argv, false
				default:
					line[o] = c
					o++
				}
			case insq:
				switch {
				case c == '\\' && byteAt(line, p+1) == '\'':
					p++
					line[o] = '\''
					o++
				case c == '\'':
					if p+1 < n && !isSpace(line[p+1]) {
						return argv, false
					}
					done = true
				case p == n:
					return argv, false
				default:
					line[o] = c
					o++
				}
			case p == n:
				done = true
			default:
				switch c {
				case ' ', '\n', '\r', '\t':
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					line[o] = c
					o++
				}
			}
			if p < n {
				p++
			}
		}
		argv = append(argv, line[start:o:o])
	}
}

// byteAt is line[i], or 0 past the end as at a C string's terminator.
func byteAt(line []byte, i int) byte {
	if i < len(line) {
		return line[i]
	}
	return 0
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return c
}
