package settings

import (
	"fmt"
	"strings"
)

// Markdown renders the table for the docs: every setting with its
// default, type, whether CONFIG SET changes it and its doc line, then the
// compat names CONFIG GET answers.
func (t *Table[O]) Markdown() string {
	var b strings.Builder
	b.WriteString("| setting | default | type | CONFIG SET | meaning |\n| --- | --- | --- | --- | --- |\n")
	var compat []*Setting[O]
	for _, s := range t.list {
		if s.Compat {
			compat = append(compat, s)
			continue
		}
		runtime := ""
		if s.Runtime {
			runtime = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", s.Name, code(s.Pretty(t.Default(s))),
			strings.ReplaceAll(s.Type(), "|", ", "), runtime, s.Doc)
	}
	if len(compat) > 0 {
		b.WriteString("\nCONFIG GET also answers these names, which Redis's tools ask for; they cannot be set:\n\n")
		b.WriteString("| name | value | meaning |\n| --- | --- | --- |\n")
		for _, s := range compat {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, code(t.Default(s)), s.Doc)
		}
	}
	return b.String()
}

func code(text string) string {
	if text == "" {
		return "empty"
	}
	return "`" + text + "`"
}
