// Package hooks_test runs the runner's end-to-end scenarios: a real Gitolite
// behind a real sshd, real git pushes over ssh, the real runner binary in
// the hooks (built with -tags e2etest, which compiles in the file-backed
// test backend), and the status read back with git.
package hooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/gitolitetest"
)

// lab is one Gitolite server with the runner installed for repo "infra".
type lab struct {
	t      *testing.T
	srv    *gitolitetest.Server
	runner string // the runner binary on the server
	config string // its configuration
	world  string // the test backend's state file
}

var buildOnce struct {
	sync.Once
	bin []byte
	err error
}

// runnerBinary builds runner with the test backend compiled in, once.
func runnerBinary(t testing.TB) []byte {
	t.Helper()
	buildOnce.Do(func() {
		out := filepath.Join(os.TempDir(), fmt.Sprintf("runner-e2e-%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-tags", "e2etest", "-o", out, "../runner")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildOnce.err = fmt.Errorf("go build: %w\n%s", err, b)
			return
		}
		buildOnce.bin, buildOnce.err = os.ReadFile(out)
		_ = os.Remove(out)
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.bin
}

func newLab(t *testing.T) *lab {
	t.Helper()
	srv := gitolitetest.Start(t, gitolitetest.Options{})
	l := &lab{t: t, srv: srv}
	l.runner = srv.WriteHostFile(t, "bin/runner", runnerBinary(t), 0o755)
	l.world = filepath.Join(srv.Home(), "world.json")
	l.config = srv.WriteHostFile(t, "runner.jsonnet", []byte(fmt.Sprintf(`{
  repos: [{ path: %q }],
  stateDir: 'state',
  retry: { backoff: '10ms', maxBackoff: '50ms' },
  backends: { test: { stateFile: %q, delay: '30ms' } },
}`, srv.RepoPath("infra"), l.world)), 0o644)
	hook := func(cmd string) []byte {
		return []byte(fmt.Sprintf("#!/bin/sh\nRUNNER_CONFIG=%s exec %s %s\n", l.config, l.runner, cmd))
	}
	srv.InstallHook(t, "runner-check", hook("check"))
	srv.InstallHook(t, "runner-deploy", hook("hook post-receive"))
	srv.AddUser(t, "alice")
	srv.AddRepo(t, "infra",
		"-   refs/heads/status = @all",
		"-   refs/notes/runner = @all",
		"RW+ = alice",
		"option hook.pre-receive = runner-check",
		"option hook.post-receive = runner-deploy",
		"config receive.advertisePushOptions = true")
	return l
}

// clone clones infra for alice into a new directory.
func (l *lab) clone() string {
	l.t.Helper()
	dir := filepath.Join(l.t.TempDir(), "infra")
	l.git("", "clone", "-q", l.srv.URL("infra"), dir)
	l.git(dir, "config", "user.name", "Alice")
	l.git(dir, "config", "user.email", "alice@example.org")
	return dir
}

func (l *lab) git(dir string, args ...string) string {
	l.t.Helper()
	out, err := l.srv.Git(l.t, dir, "alice", args...)
	if err != nil {
		l.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// bare runs git in the server's bare repo (read-only use).
func (l *lab) bare(args ...string) string {
	l.t.Helper()
	out, err := l.srv.RunAsHost(context.Background(), nil, "git", append([]string{"--git-dir", l.srv.RepoPath("infra")}, args...)...)
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// commit writes main.jsonnet with test.thing resources (name → value).
func commit(l *lab, dir, msg string, things map[string]string) string {
	l.t.Helper()
	var b strings.Builder
	b.WriteString("local r = import 'runner.libsonnet';\nr.output([\n")
	for k, v := range things {
		fmt.Fprintf(&b, "  r.resource('test.thing', %q, { value: %q }),\n", k, v)
	}
	b.WriteString("])\n")
	if err := os.WriteFile(filepath.Join(dir, "main.jsonnet"), []byte(b.String()), 0o644); err != nil {
		l.t.Fatal(err)
	}
	l.git(dir, "add", "-A")
	l.git(dir, "commit", "-q", "-m", msg)
	return strings.TrimSpace(l.git(dir, "rev-parse", "HEAD"))
}

// worldValues reads the test backend's live state: name → value.
func (l *lab) worldValues() map[string]string {
	l.t.Helper()
	b, err := os.ReadFile(l.world)
	if err != nil {
		l.t.Fatal(err)
	}
	var w map[string]struct{ Value string }
	if err := json.Unmarshal(b, &w); err != nil {
		l.t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range w {
		out[strings.TrimPrefix(k, "test.thing/")] = v.Value
	}
	return out
}

func TestPushDeploysAndRejects(t *testing.T) {
	l := newLab(t)
	dir := l.clone()
	c1 := commit(l, dir, "first", map[string]string{"db": "v1", "web": "v1"})
	out := l.git(dir, "push", "origin", "HEAD:main")
	for _, want := range []string{
		"remote: runner: " + c1[:7] + " checked: 2 resources",
		"remote: runner: queued deploy of " + c1[:7],
		"remote: runner: test.thing/db (create): started",
		"remote: runner: deploy " + c1[:7] + ": ok, 2 changed",
		"remote: ==> status recorded on branch status",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	if got := l.bare("log", "-1", "--format=%s", "status"); got != "deploy "+c1[:7]+": ok, 2 changed" {
		t.Errorf("status = %q", got)
	}
	if got := l.bare("log", "-1", "--format=%(trailers:key=Pushed-By,valueonly)", "status"); got != "alice" {
		t.Errorf("Pushed-By = %q, want alice (Gitolite's GL_USER)", got)
	}
	if note := l.bare("notes", "--ref=runner", "show", c1); !strings.Contains(note, "deploy "+c1[:7]+": ok, 2 changed") {
		t.Errorf("note = %q", note)
	}
	if w := l.worldValues(); w["db"] != "v1" || w["web"] != "v1" {
		t.Errorf("world = %v", w)
	}

	// A commit that does not decode is rejected at push time.
	if err := os.WriteFile(filepath.Join(dir, "main.jsonnet"), []byte("local r = import 'runner.libsonnet';\nr.output([r.resource('test.thing', 'db', {valeu: 'x'})])\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.git(dir, "commit", "-q", "-am", "typo")
	out, err := l.srv.Git(t, dir, "alice", "push", "origin", "HEAD:main")
	if err == nil {
		t.Fatalf("a bad push was accepted:\n%s", out)
	}
	for _, want := range []string{"remote: runner: error: main.jsonnet: test.thing/db (resources[0]): field spec.valeu: unknown field", "pre-receive hook declined"} {
		if !strings.Contains(out, want) {
			t.Errorf("rejected push output lacks %q:\n%s", want, out)
		}
	}
	if got := l.bare("rev-parse", "main"); got != c1 {
		t.Errorf("main moved to %s after a rejected push", got)
	}

	// Users cannot write the status branch (the pre-receive check refuses
	// it first; Gitolite's deny rule would too).
	out, err = l.srv.Git(t, dir, "alice", "push", "origin", "+HEAD~1:refs/heads/status")
	if err == nil || !strings.Contains(out, "refs/heads/status is written by the runner only") {
		t.Errorf("push to status: err=%v\n%s", err, out)
	}

	// Change, then replay the first commit: the rollback.
	l.git(dir, "reset", "-q", "--hard", "HEAD~1")
	commit(l, dir, "second", map[string]string{"db": "v2"})
	l.git(dir, "push", "-q", "origin", "HEAD:main")
	if w := l.worldValues(); w["db"] != "v2" || w["web"] != "" {
		t.Fatalf("world after second push = %v", w)
	}
	out, err = l.srv.RunAsHost(context.Background(), []string{"RUNNER_CONFIG=" + l.config}, l.runner, "replay", c1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "replay of "+c1[:7]+": ok, 2 changed") {
		t.Errorf("replay output:\n%s", out)
	}
	if w := l.worldValues(); w["db"] != "v1" || w["web"] != "v1" {
		t.Errorf("world after replay = %v", w)
	}
}

// TestRacingPushes pushes 20 commits from 4 clones at once. Every accepted
// push must appear in the status history (applied or superseded), the
// history must be linear, and the live state must end at the last commit
// of main.
func TestRacingPushes(t *testing.T) {
	l := newLab(t)
	seed := l.clone()
	commit(l, seed, "seed", map[string]string{"x": "seed"})
	l.git(seed, "push", "-q", "origin", "HEAD:main")

	const clones, each = 4, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	pushed := map[string]bool{}
	for c := range clones {
		dir := l.clone()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				for try := 0; try < 20; try++ {
					if _, err := l.srv.Git(t, dir, "alice", "pull", "-q", "--rebase", "origin", "main"); err != nil {
						continue
					}
					h := commit(l, dir, fmt.Sprintf("clone %d push %d", c, i), map[string]string{"x": fmt.Sprintf("c%d-%d", c, i)})
					if _, err := l.srv.Git(t, dir, "alice", "push", "-q", "-o", "runner.queue-only", "origin", "HEAD:main"); err == nil {
						mu.Lock()
						pushed[h] = true
						mu.Unlock()
						break
					}
					l.git(dir, "reset", "-q", "--hard", "HEAD~1")
				}
			}
		}()
	}
	wg.Wait()
	if len(pushed) != clones*each {
		t.Fatalf("only %d of %d pushes were accepted", len(pushed), clones*each)
	}
	// Drain what is still queued, then check.
	if out, err := l.srv.RunAsHost(context.Background(), []string{"RUNNER_CONFIG=" + l.config}, l.runner, "work"); err != nil {
		t.Fatalf("runner work: %v\n%s", err, out)
	}
	recorded := map[string]string{}
	for _, line := range strings.Split(l.bare("log", "--format=%(trailers:key=Source-Commit,valueonly,separator=)|%s", "status"), "\n") {
		src, subject, _ := strings.Cut(line, "|")
		recorded[src] = subject
	}
	for h := range pushed {
		s, ok := recorded[h]
		applied := strings.Contains(s, ": ok,") || strings.Contains(s, ": superseded by ")
		if !ok || !applied {
			t.Errorf("push %s is recorded as %q", h[:7], s)
		}
	}
	if merges := l.bare("rev-list", "--merges", "--count", "status"); merges != "0" {
		t.Errorf("status history has %s merges", merges)
	}
	last := l.bare("rev-parse", "main")
	msg := l.bare("log", "-1", "--format=%s", last)
	want := "c" + strings.TrimPrefix(strings.ReplaceAll(msg, " push ", "-"), "clone ")
	if w := l.worldValues(); w["x"] != want {
		t.Errorf("live x = %q, want %q (from the last commit %q)", w["x"], want, msg)
	}
	t.Logf("%d pushes: %d status commits", len(pushed), strings.Count(l.bare("log", "--format=%h", "status"), "\n")+1)
}
