package hooks_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"

	"github.com/gitops-runner/gitops-runner/runner/queue"
)

// TestKillWorker kills `runner work` with SIGKILL at a random moment of each
// of 25 deployments. After each kill the next worker must finish the job:
// no job lost, no lock stuck, the status history linear and complete, and
// the live state converged to the pushed commit.
func TestKillWorker(t *testing.T) {
	dir := t.TempDir()
	g := gitrepotest.New(t)
	bare := g.Bare
	world := filepath.Join(dir, "world.json")
	bin, cfg := installRunner(t, dir, fmt.Sprintf(`{
  repos: [{ path: %q }],
  stateDir: 'state',
  retry: { backoff: '5ms', maxBackoff: '20ms' },
  backends: { test: { stateFile: %q, delay: '15ms' } },
}`, bare, world))
	sp, err := queue.Open(filepath.Join(dir, "state", "queue", "infra"))
	if err != nil {
		t.Fatal(err)
	}
	runner := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"--config", cfg}, args...)...)
		cmd.Env = gitrepotest.CleanEnv()
		return cmd
	}

	rng := rand.New(rand.NewPCG(7, 25))
	killed := 0
	var commits []string
	for trial := range 25 {
		// Each commit changes every thing and drops/adds one, so every run
		// has creates, updates and deletes in flight.
		var b strings.Builder
		b.WriteString("local r = import 'runner.libsonnet';\nr.output([\n")
		for i := range 10 {
			if i == trial%10 {
				continue
			}
			fmt.Fprintf(&b, "  r.resource('test.thing', 'n%d', { value: 't%d' }),\n", i, trial)
		}
		b.WriteString("])\n")
		head := g.Push(fmt.Sprint("trial ", trial), map[string]string{"main.jsonnet": b.String()})
		commits = append(commits, head)
		if err := sp.Add(&queue.Job{Repo: bare, Ref: "refs/heads/main", New: head, Pusher: "alice", PushedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}

		w := runner("work")
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
		if err := w.Process.Signal(syscall.SIGKILL); err == nil {
			killed++
		}
		_ = w.Wait()

		// The next worker finishes whatever the killed one left.
		if out, err := runner("work").CombinedOutput(); err != nil {
			t.Fatalf("trial %d: next worker: %v\n%s", trial, err, out)
		}
		if p, _ := sp.Pending(); len(p) != 0 {
			t.Fatalf("trial %d: %d jobs still pending", trial, len(p))
		}
		if r, _ := sp.Running(); len(r) != 0 {
			t.Fatalf("trial %d: %d jobs still running", trial, len(r))
		}
		l, ok, err := queue.TryLockRepo(bare)
		if err != nil || !ok {
			t.Fatalf("trial %d: lock stuck (ok=%v err=%v)", trial, ok, err)
		}
		_ = l.Unlock()
		data, err := os.ReadFile(world)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]struct{ Value string }
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 9 {
			t.Errorf("trial %d: %d things live, want 9: %v", trial, len(got), got)
		}
		for id, v := range got {
			if v.Value != fmt.Sprint("t", trial) || id == fmt.Sprintf("test.thing/n%d", trial%10) {
				t.Errorf("trial %d: %s = %q: not converged", trial, id, v.Value)
			}
		}
		if got := g.Git(bare, "log", "-1", "--format=%s", "status"); !strings.Contains(got, head[:7]+": ok") {
			t.Errorf("trial %d: last status %q, want an ok deploy of %s", trial, got, head[:7])
		}
	}
	if merges := g.Git(bare, "rev-list", "--merges", "--count", "status"); merges != "0" {
		t.Errorf("status history has %s merges", merges)
	}
	recorded := g.Git(bare, "log", "--format=%(trailers:key=Source-Commit,valueonly,separator=)", "status")
	for i, c := range commits {
		if !strings.Contains(recorded, c) {
			t.Errorf("push %d (%s) is not in the status history", i, c[:7])
		}
	}
	t.Logf("25 trials, %d workers killed, %d status commits", killed, strings.Count(recorded, "\n")+1)
}

// installRunner writes the runner binary under test and its config (the
// text of runner.jsonnet) into dir, and returns their paths.
func installRunner(tb testing.TB, dir, config string) (bin, cfg string) {
	tb.Helper()
	bin = filepath.Join(dir, "runner")
	if err := os.WriteFile(bin, runnerBinary(tb), 0o755); err != nil { //nolint:gosec // the binary under test
		tb.Fatal(err)
	}
	cfg = filepath.Join(dir, "runner.jsonnet")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		tb.Fatal(err)
	}
	return bin, cfg
}

// BenchmarkQueueOnlyHook measures the runner's time in a queue-only push:
// the post-receive hook process, from start to exit (it queues the job
// durably and starts a detached worker). Target: < 100 ms.
func BenchmarkQueueOnlyHook(b *testing.B) {
	// Not b.TempDir: the detached workers the hook starts may still be
	// finishing when the benchmark ends.
	dir, err := os.MkdirTemp("", "bench-hook-")
	if err != nil {
		b.Fatal(err)
	}
	bin, cfg := installRunner(b, dir, `{ stateDir: 'state', backends: { test: { stateFile: std.extVar('configDir') + '/world.json' } } }`)
	bare := filepath.Join(dir, "infra.git")
	work := filepath.Join(dir, "work")
	for _, args := range [][]string{{"init", "-q", "--bare", "-b", "main", bare}, {"clone", "-q", bare, work}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v", out, err)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "main.jsonnet"), []byte("{resources: []}"), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, args := range [][]string{{"add", "-A"}, {"-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "-m", "x"}, {"push", "-q", "origin", "main"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v", out, err)
		}
	}
	head, err := exec.Command("git", "--git-dir", bare, "rev-parse", "main").Output()
	if err != nil {
		b.Fatal(err)
	}
	line := "0000000000000000000000000000000000000000 " + strings.TrimSpace(string(head)) + " refs/heads/main\n"
	b.Cleanup(func() {
		_ = exec.Command(bin, "--config", cfg, "work", "--repo", bare).Run()
		time.Sleep(300 * time.Millisecond)
		_ = os.RemoveAll(dir)
	})
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(bin, "--config", cfg, "hook", "post-receive", "--queue-only", "--repo", bare)
		cmd.Stdin = strings.NewReader(line)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "queued deploy") {
			b.Fatalf("%v\n%s", err, out)
		}
	}
}

// TestInterruptedPushStillDeploys presses Ctrl-C on `git push` while the
// hook streams the deployment: SIGINT goes to the pusher's whole process
// group (git, receive-pack and the hook), and the detached worker must
// finish the deployment anyway.
func TestInterruptedPushStillDeploys(t *testing.T) {
	bin, cfg := installRunner(t, t.TempDir(), `{ stateDir: 'state', concurrency: 1,
  backends: { test: { stateFile: std.extVar('configDir') + '/world.json', delay: '300ms' } } }`)
	g := gitrepotest.New(t)
	bare, work := g.Bare, g.Work
	hook := fmt.Sprintf("#!/bin/sh\nRUNNER_CONFIG=%s exec %s hook post-receive\n", cfg, bin)
	if err := os.WriteFile(filepath.Join(bare, "hooks", "post-receive"), []byte(hook), 0o755); err != nil { //nolint:gosec // a hook must be executable
		t.Fatal(err)
	}
	main := "local r = import 'runner.libsonnet';\nr.output([r.resource('test.thing', 'n' + i, { value: 'v' }) for i in std.range(1, 5)])\n"
	if err := os.WriteFile(filepath.Join(work, "main.jsonnet"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	g.Git(work, "add", "-A")
	g.Git(work, "commit", "-q", "-m", "five things")

	push := exec.Command("git", "push", "origin", "main")
	push.Dir, push.Env = work, gitrepotest.Env(work)
	push.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := push.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), "(create): started") {
		n, err := stderr.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			t.Fatalf("push ended before the deployment started: %v\n%s", err, seen.String())
		}
	}
	// Ctrl-C: SIGINT to the pusher's process group.
	if err := syscall.Kill(-push.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = push.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := exec.Command("git", "--git-dir", bare, "log", "-1", "--format=%s", "status").Output()
		if strings.Contains(string(out), "ok, 5 changed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no deployment recorded after the interrupted push; status: %q\npush output:\n%s", out, seen.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
