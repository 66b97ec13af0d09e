package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestStartKillStart writes a row, kills the server, starts it again over
// the same data and reads the row back.
func TestStartKillStart(t *testing.T) {
	s := Start(t)
	dsn, err := s.CreateDatabase("kept")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	exec := func(q string) int64 {
		t.Helper()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var n int64
		if err := c.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := exec("WITH c AS (SELECT 1) SELECT 1"); n != 1 {
		t.Fatal(n)
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE t AS SELECT 42::bigint AS v"); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	s.Kill()
	if _, err := pgx.Connect(ctx, dsn); err == nil {
		t.Fatal("a killed server accepts a connection")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if v := exec("SELECT v FROM t"); v != 42 {
		t.Fatalf("read %d after the restart", v)
	}
	s.Stop()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if v := exec("SELECT count(*) FROM t"); v != 1 {
		t.Fatalf("%d rows after a stop and start", v)
	}
}
