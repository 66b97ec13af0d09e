package commands

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// commandsDoc is the user's reference of every command.
const commandsDoc = "../docs/commands.md"

// loadingMarker starts the paragraph of docs/commands.md that lists, as code
// spans, the commands that answer while the state loads.
const loadingMarker = "<!-- answers while loading: the commands with FlagLoading -->"

var codeSpan = regexp.MustCompile("`([^`]+)`")

// docSyntax returns the headings of a Markdown text and its syntax lines:
// every code span and every line of a fenced block.
func docSyntax(text string) (headings, syntax []string) {
	fenced := false
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "```"):
			fenced = !fenced
		case fenced:
			syntax = append(syntax, strings.TrimSpace(line))
		case strings.HasPrefix(line, "#"):
			headings = append(headings, strings.TrimSpace(strings.TrimLeft(line, "#")))
		default:
			for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
				syntax = append(syntax, m[1])
			}
		}
	}
	return headings, syntax
}

// documents reports whether name is a heading or starts a syntax line.
func documents(headings, syntax []string, name string) bool {
	if slices.Contains(headings, name) {
		return true
	}
	for _, s := range syntax {
		if rest, ok := strings.CutPrefix(s, name); ok && (rest == "" || rest[0] == ' ') {
			return true
		}
	}
	return false
}

// TestCommandsDocumented: every command and subcommand of the table is a
// heading of docs/commands.md or starts a syntax line there (a code span or
// a line of a code block), and the docs' list of the commands that answer
// while loading is exactly the table's.
func TestCommandsDocumented(t *testing.T) {
	b, err := os.ReadFile(commandsDoc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	headings, syntax := docSyntax(text)
	var loading []string
	for _, cmd := range All().All() {
		if !documents(headings, syntax, cmd.Name) {
			t.Errorf("%s is not documented in %s", cmd.Name, commandsDoc)
		}
		for _, sub := range cmd.Subcommands {
			if !documents(headings, syntax, sub.Name) {
				t.Errorf("%s is not documented in %s", sub.Name, commandsDoc)
			}
			// The docs list a container command, for all its subcommands.
			if sub.Flags&FlagLoading != cmd.Flags&FlagLoading {
				t.Errorf("%s answers while loading or not as %s does", sub.Name, cmd.Name)
			}
		}
		if cmd.Flags&FlagLoading != 0 {
			loading = append(loading, cmd.Name)
		}
	}

	_, after, ok := strings.Cut(text, loadingMarker+"\n")
	if !ok {
		t.Fatalf("%s has no line %q", commandsDoc, loadingMarker)
	}
	para, _, _ := strings.Cut(after, "\n\n")
	var listed []string
	for _, m := range codeSpan.FindAllStringSubmatch(para, -1) {
		if m[1] != "-LOADING" {
			listed = append(listed, m[1])
		}
	}
	slices.Sort(listed)
	slices.Sort(loading)
	if !slices.Equal(listed, loading) {
		t.Errorf("%s lists as answering while loading\n  %v\nthe table's commands with FlagLoading are\n  %v", commandsDoc, listed, loading)
	}
}
