package main

import (
	"bytes"
	"context"
	"errors"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/internal/postfixtest"
	"github.com/gitops-runner/gitops-runner/internal/promtest"
	"github.com/gitops-runner/gitops-runner/runner/lab"
)

// TestLabTellsTheOperator is the done-when in the lab: a push whose
// deployment fails (a disk larger than the Proxmox storage has free: a
// mistake a user makes) produces exactly one mail in the lab's mailbox,
// turns the Nagios plugin CRITICAL and shows on the metrics endpoint; a
// reconcile pass mails nothing more; the push that fixes it turns the
// plugin OK and mails once that it recovered. The backend API calls the
// metrics count are what the simulators counted.
func TestLabTellsTheOperator(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("the lab needs git")
	}
	bin := plugin(t) // the runner as the hooks, Nagios and the service run it
	compiled := compiledBackends()
	var progress bytes.Buffer
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Runner: bin, Backends: compiled, Out: &progress})
	if err != nil {
		t.Fatalf("lab: %v\n%s", err, progress.String())
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	}()
	env := append(gitrepotest.CleanEnv(), l.Env...)
	runner := func(args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"--config", l.Config}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	work := filepath.Join(t.TempDir(), "infra")
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=Alice", "-c", "user.email=alice@mydomain.com"}, args...)...)
		cmd.Env = append(env, "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	mailbox := func(want int) []*mail.Message {
		t.Helper()
		msgs, err := lab.ReadMailbox(l.Mailbox)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != want {
			raw, _ := os.ReadFile(l.Mailbox)
			t.Fatalf("%d mails in the lab's mailbox, want %d:\n%s", len(msgs), want, raw)
		}
		return msgs
	}
	// push commits a change of homelab.libsonnet and pushes it; the hook
	// streams its deployment. It returns the status commit's subject.
	push := func(old, new, msg string) string {
		t.Helper()
		p := filepath.Join(work, "homelab.libsonnet")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("homelab.libsonnet lacks %q", old)
		}
		if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o600); err != nil {
			t.Fatal(err)
		}
		git(work, "commit", "-qam", msg)
		out := git(work, "push", "origin", "main")
		head := git(work, "rev-parse", "--short=7", "HEAD")
		deadline := time.Now().Add(3 * time.Minute)
		for {
			subj := git(l.Repo, "log", "-1", "--format=%s", "status")
			if strings.HasPrefix(subj, "deploy "+head+":") {
				return subj
			}
			if time.Now().After(deadline) {
				t.Fatalf("no status of deploy %s after the push (last: %s)\n%s", head, subj, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// apiCalls checks that the backend API calls the metrics show are the
	// requests each simulator received.
	apiCalls := func(metrics string) {
		t.Helper()
		counted := map[string]int{}
		re := regexp.MustCompile(`(?m)^gitops_runner_backend_api_calls_total\{backend="([a-z0-9]+)",method="[A-Z]+",outcome="([0-9x]+|error)"\} ([0-9]+)$`)
		for _, m := range re.FindAllStringSubmatch(metrics, -1) {
			n, _ := strconv.Atoi(m[3])
			counted[m[1]] += n
		}
		for backend, n := range l.APIRequests() {
			if n == 0 || counted[backend] != n {
				t.Errorf("%s: the metrics count %d API calls, the simulator received %d", backend, counted[backend], n)
			}
		}
	}

	if code, out := runner("apply", "--repo", l.Repo); code != 0 {
		t.Fatalf("first deployment: exit %d\n%s", code, out)
	}
	mailbox(0)
	git(filepath.Dir(work), "clone", "-q", l.Repo, work)

	// The mistake: nextcloud's disk grown beyond the free space of its
	// storage (local-zfs, 1700 GiB).
	subj := push("disk: '64GiB', ip: '10.42.0.101'", "disk: '4TiB', ip: '10.42.0.101'", "nextcloud: 4 TiB")
	if !strings.Contains(subj, ": failed") {
		t.Fatalf("status %q, want a failed deployment", subj)
	}
	msgs := mailbox(1)
	if got := postfixtest.Subject(t, msgs[0]); got != "[infra] "+subj {
		t.Errorf("mail subject %q, want [infra] %s", got, subj)
	}
	if ev := msgs[0].Header.Get("X-Gitops-Runner-Event"); ev != "deploy-failed" {
		t.Errorf("mail about %q, want deploy-failed", ev)
	}
	body := postfixtest.Body(t, msgs[0])
	for _, want := range []string{"proxmox.lxc/nextcloud: failed", "not enough free space", "git show origin/status:STATUS.md"} {
		if !strings.Contains(body, want) {
			t.Errorf("the mail lacks %q:\n%s", want, body)
		}
	}
	raw, err := os.ReadFile(l.Mailbox)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := filepath.Glob(filepath.Join(l.Dir, "secrets", "*"))
	if err != nil || len(secrets) == 0 {
		t.Fatalf("the lab's secrets: %v %v", secrets, err)
	}
	for _, p := range secrets {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSpace(string(b)); len(s) >= 8 && bytes.Contains(raw, []byte(s)) {
			t.Errorf("the secret of %s is in the mailbox", filepath.Base(p))
		}
	}

	if code, out := runner("monitor", "--nagios"); code != 2 || !strings.HasPrefix(out, "RUNNER CRITICAL - infra: last deployment "+subj) {
		t.Errorf("Nagios plugin after the failure: exit %d, want 2 (CRITICAL)\n%s", code, out)
	}
	scrape, stop := serveMetrics(t, l.Config, l.MetricsAddr, env)
	defer stop()
	metrics := scrape()
	for _, want := range []string{
		`gitops_runner_last_deployment_failed{repo="infra"} 1`,
		`gitops_runner_runs_total{kind="deploy",repo="infra",result="failed"} 1`,
		`gitops_runner_changes_total{repo="infra",resource_kind="proxmox.lxc",status="failed"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	apiCalls(metrics)
	promtest.Check(t, metrics)

	// A reconcile pass (what runner serve runs every --drift-interval)
	// does not mail about the same failure again.
	code, out := runner("reconcile", "--repo", l.Repo)
	t.Logf("reconcile after the failure: exit %d\n%s", code, out)
	mailbox(1)

	// The fix: the disk back as it is.
	subj = push("disk: '4TiB', ip: '10.42.0.101'", "disk: '64GiB', ip: '10.42.0.101'", "nextcloud: back to 64 GiB")
	if !strings.Contains(subj, ": ok") {
		t.Fatalf("status %q, want a deployment ok", subj)
	}
	if code, out := runner("monitor", "--nagios"); code != 0 || !strings.HasPrefix(out, "RUNNER OK - ") {
		t.Errorf("Nagios plugin after the fix: exit %d, want 0 (OK)\n%s", code, out)
	}
	msgs = mailbox(2)
	if ev, got := msgs[1].Header.Get("X-Gitops-Runner-Event"), postfixtest.Subject(t, msgs[1]); ev != "recovered" || got != "[infra] "+subj {
		t.Errorf("second mail: event %q, subject %q; want recovered, [infra] %s", ev, got, subj)
	}
	metrics = scrape()
	for _, want := range []string{
		`gitops_runner_last_deployment_failed{repo="infra"} 0`,
		`gitops_runner_runs_total{kind="deploy",repo="infra",result="failed"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics after the fix lack %s", want)
		}
	}
	apiCalls(metrics)
	if t.Failed() {
		t.Logf("metrics:\n%s", metrics)
	}
}
