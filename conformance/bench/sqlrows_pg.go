package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx": the driver foldb's PostgreSQL projections use, for database/sql
)

// pgBin is where Debian's PostgreSQL 15 keeps its programs.
var pgBin = "/usr/lib/postgresql/15/bin"

// postgresBackend starts one PostgreSQL server for the run, as the
// postgres user (it refuses root), in a folder of the work folder, with
// fsync and synchronous_commit on (its defaults), and makes a database per
// tag.
func (b *bench) postgresBackend() (*sqlBackend, error) {
	if b.pg == "" {
		dsn, err := b.startPostgres()
		if err != nil {
			return nil, err
		}
		b.pg = dsn
	}
	admin := func() (*sql.DB, error) { return sql.Open("pgx", b.pg+"/postgres") }
	return &sqlBackend{
		name: "postgres",
		fresh: func(b *bench, tag string) ([]string, *sql.DB, error) {
			a, err := admin()
			if err != nil {
				return nil, nil, err
			}
			defer a.Close()
			name := "bench_" + tag
			if _, err := a.ExecContext(b.ctx, "DROP DATABASE IF EXISTS "+quote(name)); err != nil {
				return nil, nil, err
			}
			if _, err := a.ExecContext(b.ctx, "CREATE DATABASE "+quote(name)); err != nil {
				return nil, nil, err
			}
			dsn := b.pg + "/" + name
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				return nil, nil, err
			}
			db.SetMaxOpenConns(1)
			return []string{"FOLDB_DATABASES_BENCH_DSN=" + dsn, "FOLDB_DATABASES_BENCH_DRIVER=postgres"}, db, nil
		},
		drop: func(b *bench, tag string) {
			if a, err := admin(); err == nil {
				a.ExecContext(b.ctx, "DROP DATABASE IF EXISTS "+quote("bench_"+tag)+" WITH (FORCE)")
				a.Close()
			}
		},
		param:    func(n int) string { return "$" + strconv.Itoa(n) },
		typeName: func(ct *sql.ColumnType) string { return ct.DatabaseTypeName() },
	}, nil
}

// startPostgres runs initdb and postgres as the postgres user and returns
// the URL of the server, without a database.
func (b *bench) startPostgres() (string, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return "", fmt.Errorf("-sql-db postgres needs the postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := b.path("postgres")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for _, p := range []string{b.work, dir} {
		os.Chmod(p, 0o755)
	}
	os.Chmod(dir, 0o700)
	if err := os.Chown(dir, uid, gid); err != nil {
		return "", err
	}
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, Setpgid: true}
	initdb := exec.CommandContext(b.ctx, filepath.Join(pgBin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
	initdb.SysProcAttr = cred
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	p, err := b.startProcCred("postgres", filepath.Join(pgBin, "postgres"), cred, "-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(port),
		"-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on")
	if err != nil {
		return "", err
	}
	if _, err := p.waitLine("database system is ready to accept connections", startTimeout); err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d", port), nil
}
