package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/internal/testkit/outbuf"
	"github.com/redis/go-redis/v9"
)

const (
	reactorAccounts = 5000
	reactorWriters  = 8
	// reactorKillAt is how many mails must be out before the kill: the
	// reactors have work in hand and the writers are far from done.
	reactorKillAt = 300
	// reactorDeadline bounds the whole run after the restart; the reactors
	// take over a dead consumer's entries after 3 s (CLAIM_IDLE_MS).
	reactorDeadline = 45 * time.Second
)

// TestPHPReactors runs the bank's reactor (examples/php/bank/reactor.php:
// a consumer of the group "mailer" on $ce-account that writes a welcome
// mail file per AccountOpened) three times, two on phpredis and one on
// Predis, while 8 PHP processes (php/open-accounts.php) open 5,000
// accounts. Once some mails are out it kills one reactor and foldb with
// SIGKILL, restarts foldb on the same folder and port and the reactor
// under its old name. The writers resend what got no answer with its ID.
// In the end every account has exactly one mail, whole, no mail is for
// anything else, and the group has nothing pending.
func TestPHPReactors(t *testing.T) {
	php := needTool(t, "php-redis")
	autoload := needTool(t, "predis")
	s := startServer(t, "")
	mail := t.TempDir()
	reactor := filepath.Join(testkit.RepoPath(t, "examples", "php", "bank"), "reactor.php")
	env := []string{"FOLDB_HOST=127.0.0.1", fmt.Sprint("FOLDB_PORT=", s.Port), "FOLDB_PREDIS_AUTOLOAD=" + autoload}
	startReactor := func(name, client string) *phpProc {
		return startPHP(t, name, append(env, "FOLDB_CLIENT="+client), php, reactor, mail, name)
	}
	reactors := []*phpProc{
		startReactor("mailer-1", "phpredis"),
		startReactor("mailer-2", "phpredis"),
		startReactor("mailer-3", "predis"),
	}
	alive := func() {
		t.Helper()
		for _, r := range reactors {
			if r.exited() {
				t.Fatalf("%s exited: %v\n%s", r.name, r.err, r.out.String())
			}
		}
	}
	// The group exists before the first append, so that no reactor's
	// XGROUP CREATE ... 0 races them: all start from the log's start anyway.
	testkit.WaitForWithin(t, startTimeout, "the reactors to create their group", func() bool {
		alive()
		groups, err := s.Client(2).XInfoGroups(context.Background(), "$ce-account").Result()
		return err == nil && len(groups) == 1
	})

	start := time.Now()
	var writers []*phpProc
	for w := range reactorWriters {
		writers = append(writers, startPHP(t, fmt.Sprint("writer-", w), nil, php,
			"php/open-accounts.php", strconv.Itoa(s.Port), strconv.Itoa(w), strconv.Itoa(reactorWriters), strconv.Itoa(reactorAccounts)))
	}
	pollUntil(t, reactorDeadline, fmt.Sprintf("%d mails before the kill", reactorKillAt), func() bool {
		alive()
		return countMails(t, mail) >= reactorKillAt
	})
	reactors[0].kill()
	s.Kill()
	mailed := countMails(t, mail)
	s = restartOnPort(t, s)
	t.Logf("killed %s and foldb %v after the writers started, with %d mails out and %d events in the log",
		reactors[0].name, time.Since(start).Round(time.Millisecond), mailed, s.StartEvents())
	reactors[0] = startReactor(reactors[0].name, "phpredis")

	resends := 0
	for _, w := range writers {
		if err := w.wait(reactorDeadline); err != nil {
			t.Fatalf("%s: %v\n%s", w.name, err, w.out.String())
		}
		m := regexp.MustCompile(`(?m)^PASS (\d+) (\d+)$`).FindStringSubmatch(w.out.String())
		if m == nil {
			t.Fatalf("%s did not end with PASS:\n%s", w.name, w.out.String())
		}
		n, _ := strconv.Atoi(m[2])
		resends += n
	}
	// Every writer was appending when foldb died, unless it was done.
	if resends == 0 {
		t.Error("no writer had to resend an append: the kill came after the appends")
	}
	pollUntil(t, reactorDeadline, fmt.Sprintf("%d mails", reactorAccounts), func() bool {
		alive()
		return countMails(t, mail) >= reactorAccounts
	})
	c := s.Client(2)
	var pending int64
	pollUntil(t, reactorDeadline, "XPENDING $ce-account mailer to be 0", func() bool {
		alive()
		p, err := c.XPending(context.Background(), "$ce-account", "mailer").Result()
		if err != nil {
			t.Fatalf("XPENDING: %v", err)
		}
		pending = p.Count
		return pending == 0
	})
	t.Logf("%d mails and nothing pending %v after the writers started; the writers resent %d appends",
		reactorAccounts, time.Since(start).Round(time.Millisecond), resends)
	for _, r := range reactors {
		r.signal(syscall.SIGTERM)
	}
	for _, r := range reactors {
		if err := r.wait(stopTimeout); err != nil {
			t.Errorf("%s after SIGTERM: %v\n%s", r.name, err, r.out.String())
		}
	}
	checkMails(t, c, mail)
}

// checkMails checks that the log holds one AccountOpened per account, and
// the mail folder exactly one mail for each, named by its event's position
// (the entry's ID), each one whole line, and nothing else but an empty
// drafts folder.
func checkMails(t *testing.T, c *redis.Client, mail string) {
	t.Helper()
	evs := readLog(t, c, 1, 1000)
	if len(evs) != reactorAccounts {
		t.Errorf("the log has %d events, want one per account: %d", len(evs), reactorAccounts)
	}
	want := map[string]string{} // file name → content
	for _, e := range evs {
		n, ok := strings.CutPrefix(e.Stream, "account:")
		// readLog checked versions: a resend written twice is version 2.
		if !ok || e.Type != "AccountOpened" || e.Version != 1 || e.ID != "open-"+n {
			t.Errorf("event %+v", e)
		}
		want[fmt.Sprint(e.Position, ".mail")] = fmt.Sprintf("welcome account:%s owner %s\n", n, n)
	}
	files := mailFiles(t, mail)
	// The mailer writes each mail as a draft first; none may be left.
	if i := slices.Index(files, "drafts"); i >= 0 {
		if drafts := mailFiles(t, filepath.Join(mail, "drafts")); len(drafts) > 0 {
			t.Errorf("drafts left in the mail folder: %v", drafts)
		}
		files = slices.Delete(files, i, i+1)
	}
	bad := 0
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(mail, name))
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[name]
		delete(want, name)
		switch {
		case !ok:
			t.Errorf("mail %s is for no account's AccountOpened: %q", name, b)
		case string(b) != w:
			t.Errorf("mail %s holds %q, want %q", name, b, w)
		default:
			continue
		}
		if bad++; bad > 20 {
			t.Fatal("too many bad mails")
		}
	}
	for name, content := range want {
		t.Errorf("no mail %s (%q)", name, strings.TrimSpace(content))
		if bad++; bad > 20 {
			t.Fatal("too many missing mails")
		}
	}
}

// mailFiles lists the names in the mail folder, every one, mail or not.
func mailFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// countMails counts the mails in the mail folder.
func countMails(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, name := range mailFiles(t, dir) {
		if strings.HasSuffix(name, ".mail") {
			n++
		}
	}
	return n
}

// restartOnPort starts a new server on s's folder, flags and port, for
// clients that reconnect to the address they had.
func restartOnPort(t *testing.T, s *Server) *Server {
	t.Helper()
	if !s.Exited() {
		t.Fatal("restart of a running server")
	}
	return startServer(t, s.Dir, append(slices.Clone(s.Flags), "--port", strconv.Itoa(s.Port))...)
}

// pollUntil checks cond every 20 ms until it holds, failing the test after
// timeout: for conditions too costly to check as often as WaitFor does.
func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // the polling interval
	}
}

// phpProc is a PHP process of a test, killed when the test ends if still
// running.
type phpProc struct {
	name   string
	cmd    *exec.Cmd
	out    outbuf.Buffer // stdout and stderr
	done   chan struct{}
	err    error // from Wait, once done is closed
	killed bool
}

func startPHP(t *testing.T, name string, env []string, php string, args ...string) *phpProc {
	t.Helper()
	p := &phpProc{name: name, cmd: exec.Command(php, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() && !p.killed {
			t.Logf("output of %s (last lines):\n%s", name, p.out.Tail(30))
		}
	})
	return p
}

func (p *phpProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *phpProc) signal(sig os.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		panic(fmt.Sprintf("signal %v to %s: %v", sig, p.name, err))
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *phpProc) kill() {
	p.killed = true
	p.signal(syscall.SIGKILL)
	<-p.done
}

// wait waits up to d for the process to exit and returns its exit error.
func (p *phpProc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("still running after %v", d)
	}
}
