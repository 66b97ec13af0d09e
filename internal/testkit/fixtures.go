package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoPath is the path of a file of the repository, given relative to its
// root (the folder of go.mod), found from the test's working directory.
func RepoPath(t testing.TB, rel ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(append([]string{dir}, rel...)...)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testkit: no go.mod above the working directory")
		}
		dir = parent
	}
}

// BankSchemaPath is the bank example's schema: accounts folded from their
// own streams with guards on every change of balance, and one "totals"
// entity of the bank.
func BankSchemaPath(t testing.TB) string {
	t.Helper()
	return RepoPath(t, "examples", "php", "bank", "schema.yaml")
}

// BankSchema is the text of BankSchemaPath.
func BankSchema(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(BankSchemaPath(t))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
