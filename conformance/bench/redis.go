package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// redisServer is one redis-server process.
type redisServer struct {
	server
}

// findTools finds redis-server and redis-benchmark, on PATH or where the
// flags say, with an error that says how to get them.
func (b *bench) findTools() error {
	for _, t := range []struct {
		path *string
		flag string
	}{{&b.cfg.redisServer, "redis-server"}, {&b.cfg.redisBenchmark, "redis-benchmark"}} {
		p, err := exec.LookPath(*t.path)
		if err != nil {
			return fmt.Errorf("%s not found (%v): the bench runs Redis 7 beside foldb on this machine; "+
				"install it (Debian/Ubuntu: apt-get install redis-server redis-tools) or pass -%s PATH", *t.path, err, t.flag)
		}
		*t.path = p
	}
	out, err := exec.Command(b.cfg.redisServer, "--version").Output()
	if err != nil {
		return fmt.Errorf("%s --version: %w", b.cfg.redisServer, err)
	}
	b.redisVersion = strings.TrimSpace(string(out))
	return nil
}

// startRedis starts redis-server on a free port with data in dir and the
// given settings (e.g. "--appendonly", "yes"), and waits until it answers PING.
func (b *bench) startRedis(dir string, settings ...string) (*redisServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var last error
	for range 3 { // the free port may be taken before redis-server binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--daemonize", "no", "--logfile", "", "--protected-mode", "no"}, settings...)
		p, err := b.startProc("redis-server", b.cfg.redisServer, args...)
		if err != nil {
			return nil, err
		}
		r := &redisServer{server{proc: p, addr: "127.0.0.1:" + strconv.Itoa(port), port: port, dir: dir}}
		if _, err := p.waitLine("Ready to accept connections", startTimeout); err != nil {
			p.kill()
			last = err
			continue
		}
		c := r.client(1)
		err = c.Ping(b.ctx).Err()
		c.Close()
		if err != nil {
			p.kill()
			last = fmt.Errorf("redis-server PING: %w", err)
			continue
		}
		return r, nil
	}
	return nil, last
}

// stop ends redis-server without writing an RDB file.
func (r *redisServer) stop(ctx context.Context) error {
	c := r.client(1)
	defer c.Close()
	if err := c.Do(ctx, "SHUTDOWN", "NOSAVE").Err(); err != nil && !isNetError(err) {
		r.kill()
		return fmt.Errorf("redis-server SHUTDOWN NOSAVE: %w", err)
	}
	return r.wait(stopTimeout)
}

// benchmark runs redis-benchmark against a server with the given options
// and command and returns its requests per second.
func (b *bench) benchmark(s *server, opts []string, command ...string) (float64, error) {
	l, err := b.benchmarkLatency(s, opts, command...)
	return l.rps, err
}

// benchmarkArgs are redis-benchmark's arguments for a run against s.
func benchmarkArgs(s *server, opts []string, command ...string) []string {
	args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-q", "--csv"}, opts...)
	return append(args, command...)
}

// benchmarkLatency runs redis-benchmark against a server with the given
// options and command and returns its requests per second and latency
// percentiles (from --csv). redis-benchmark 7 exits with status 1 at the
// first error reply.
func (b *bench) benchmarkLatency(s *server, opts []string, command ...string) (latency, error) {
	args := benchmarkArgs(s, opts, command...)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, b.cfg.redisBenchmark, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if b.ctx.Err() != nil {
			return latency{}, errInterrupted
		}
		return latency{}, fmt.Errorf("redis-benchmark %s against %s: %v\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), s.name, err, stdout.String(), stderr.String())
	}
	l, err := parseBenchmarkCSV(stdout.Bytes())
	if err != nil {
		return latency{}, fmt.Errorf("redis-benchmark %s against %s: %v\nstdout:\n%s", strings.Join(args, " "), s.name, err, stdout.String())
	}
	return l, nil
}

// parseBenchmarkCSV reads the rps, p50 and p99 columns of redis-benchmark
// --csv:
//
//	"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
//	"GET k:__rand_int__","625000.00","1.108","0.200","0.879","1.687","5.663","5.767"
//
// redis-benchmark does not escape quotes in the test's name (a JSON
// argument), so the figures are counted from the end of the line.
func parseBenchmarkCSV(out []byte) (latency, error) {
	var header []string
	for line := range strings.Lines(string(out)) {
		fields := strings.Split(strings.TrimSpace(line), ",")
		if header == nil {
			if len(fields) > 1 && fields[0] == `"test"` {
				header = fields
			}
			continue
		}
		figure := func(name string) (float64, error) {
			col := slices.Index(header, `"`+name+`"`)
			i := len(fields) - (len(header) - col)
			if col < 1 || i < 1 {
				return 0, fmt.Errorf("no %s figure in its CSV", name)
			}
			return strconv.ParseFloat(strings.Trim(fields[i], `"`), 64)
		}
		rps, err1 := figure("rps")
		p50, err2 := figure("p50_latency_ms")
		p99, err3 := figure("p99_latency_ms")
		if err := errors.Join(err1, err2, err3); err != nil {
			return latency{}, err
		}
		return latency{rps: rps, p50: msDuration(p50), p99: msDuration(p99)}, nil
	}
	return latency{}, fmt.Errorf("no rps figure in its CSV")
}

// msDuration converts redis-benchmark's milliseconds.
func msDuration(ms float64) time.Duration {
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}
