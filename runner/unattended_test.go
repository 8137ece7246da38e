package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/internal/postfixtest"
	"github.com/gitops-runner/gitops-runner/internal/promtest"
)

// unattended is a runner set up as the service runs it: a config with a repo,
// a state dir, the test backend and mail through a real Postfix.
type unattended struct {
	t      *testing.T
	repo   *gitrepotest.Repo
	pf     *postfixtest.Server
	dir    string
	config string
}

const tokenSecret = "tok-s3cret-4242-do-not-mail"

func newUnattended(t *testing.T) *unattended {
	t.Helper()
	u := &unattended{t: t, repo: gitrepotest.New(t), pf: postfixtest.Start(t), dir: t.TempDir()}
	u.config = filepath.Join(u.dir, "runner.jsonnet")
	u.repo.Push("web and db", map[string]string{"main.jsonnet": `local r = import 'runner.libsonnet';
r.output([
  r.resource('test.thing', 'db', { value: 'v1' }),
  r.resource('test.thing', 'web', { value: 'v1', token: '` + tokenSecret + `' }, { dependsOn: ['test.thing/db'] }),
])
`})
	return u
}

// writeConfig writes the runner config; fail lists resources whose apply
// fails (the test backend's injected fault).
func (u *unattended) writeConfig(fail ...string) {
	u.t.Helper()
	q := make([]string, len(fail))
	for i, f := range fail {
		q[i] = fmt.Sprintf("%q", f)
	}
	cfg := fmt.Sprintf(`{
  repos: [{ path: %q }],
  stateDir: %q,
  backends: { test: { stateFile: %q, fail: [%s] } },
  notify: { mail: { to: [%q], sendmail: %q } },
}`, u.repo.Bare, filepath.Join(u.dir, "state"), filepath.Join(u.dir, "world.json"), strings.Join(q, ", "), postfixtest.Address, u.pf.Sendmail)
	if err := os.WriteFile(u.config, []byte(cfg), 0o600); err != nil {
		u.t.Fatal(err)
	}
}

// runner runs a runner command in this process (the test backend
// registered) and returns its exit code and output.
func (u *unattended) runner(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"--config", u.config}, args...), strings.NewReader(""), &stdout, &stderr, []backendFactory{testBackend})
	return code, stdout.String(), stderr.String()
}

var pluginBuild struct {
	sync.Once
	dir, path string
	err       error
}

// plugin builds the runner as Nagios runs it: a program on disk (with the
// test backend compiled in, for `runner serve`'s workers).
func plugin(t *testing.T) string {
	t.Helper()
	pluginBuild.Do(func() {
		dir, err := os.MkdirTemp("", "runner-plugin-")
		if err != nil {
			pluginBuild.err = err
			return
		}
		pluginBuild.dir = dir // removed after all tests (TestMain): several use it
		pluginBuild.path = filepath.Join(dir, "runner")
		if out, err := exec.Command("go", "build", "-tags", "e2etest", "-o", pluginBuild.path, ".").CombinedOutput(); err != nil {
			pluginBuild.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if pluginBuild.err != nil {
		t.Fatal(pluginBuild.err)
	}
	return pluginBuild.path
}

// nagios runs `runner monitor --nagios` as Nagios runs a plugin: a process
// whose exit code is the state and whose first output line is the status.
func (u *unattended) nagios(args ...string) (int, string) {
	u.t.Helper()
	cmd := exec.Command(plugin(u.t), append([]string{"--config", u.config, "monitor", "--nagios"}, args...)...)
	cmd.Env = gitrepotest.CleanEnv()
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		u.t.Fatal(err)
	}
	u.t.Logf("runner monitor --nagios %s: exit %d\n%s", strings.Join(args, " "), cmd.ProcessState.ExitCode(), out)
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestTellTheOperator: a failed deployment produces exactly one mail (with
// the failing step and its hint, without the resource's secret) and turns
// the Nagios plugin CRITICAL; the deployment that fixes it mails once that
// it recovered and turns it OK; the next deployment mails nothing; drift
// found by a hand edit is one mail and a WARNING.
func TestTellTheOperator(t *testing.T) {
	u := newUnattended(t)
	u.writeConfig("test.thing/web")
	code, out, errOut := u.runner("apply")
	if code != exitFailed {
		t.Fatalf("apply: exit %d, want %d\n%s\n%s", code, exitFailed, out, errOut)
	}
	msgs := u.pf.Settle(t, time.Minute)
	if len(msgs) != 1 {
		t.Fatalf("%d mails after a failed deployment, want 1", len(msgs))
	}
	body := postfixtest.Body(t, msgs[0])
	for _, want := range []string{"failed, 1 changed, 1 failed, 0 skipped", "create test.thing/web: failed", "injected fault", "what to do:", "git show origin/status:STATUS.md"} {
		if !strings.Contains(body, want) {
			t.Errorf("mail lacks %q:\n%s", want, body)
		}
	}
	if raw := fmt.Sprint(msgs[0].Header) + body; strings.Contains(raw, tokenSecret) {
		t.Errorf("the resource's secret token is in the mail:\n%s", body)
	}
	if code, out := u.nagios(); code != 2 || !strings.HasPrefix(out, "RUNNER CRITICAL - infra: last deployment deploy ") {
		t.Errorf("plugin after the failed deployment: exit %d, want 2 (CRITICAL):\n%s", code, out)
	}

	u.metrics(`gitops_runner_last_deployment_failed{repo="infra"} 1`,
		`gitops_runner_last_run_result{kind="deploy",repo="infra",result="failed"} 1`,
		`gitops_runner_changes_total{repo="infra",resource_kind="test.thing",status="failed"} 1`)

	u.writeConfig()
	if code, out, errOut := u.runner("apply"); code != exitOK {
		t.Fatalf("apply after the fix: exit %d\n%s\n%s", code, out, errOut)
	}
	msgs = u.pf.Settle(t, time.Minute)
	if len(msgs) != 2 {
		t.Fatalf("%d mails after the fixing deployment, want 2 (failed, recovered)", len(msgs))
	}
	if ev := msgs[1].Header.Get("X-Gitops-Runner-Event"); ev != "recovered" {
		t.Errorf("second mail is about %q, want recovered", ev)
	}
	if subj, body := postfixtest.Subject(t, msgs[1]), postfixtest.Body(t, msgs[1]); !strings.HasPrefix(subj, "[infra] deploy ") || !strings.Contains(subj, ": ok") ||
		!strings.Contains(body, "Recovered: the deployment before, deploy ") || strings.Contains(body, tokenSecret) {
		t.Errorf("recovery mail %q:\n%s", subj, body)
	}
	if code, out := u.nagios(); code != 0 || !strings.HasPrefix(out, "RUNNER OK - ") || !strings.Contains(out, "'deploy_failed'=0;;0;0;1") {
		t.Errorf("plugin after the fix: exit %d, want 0 (OK):\n%s", code, out)
	}
	u.metrics(`gitops_runner_last_deployment_failed{repo="infra"} 0`,
		`gitops_runner_runs_total{kind="deploy",repo="infra",result="failed"} 1`,
		`gitops_runner_runs_total{kind="deploy",repo="infra",result="ok"} 1`)

	// Deployed again, fine before and after: no mail.
	if code, out, errOut := u.runner("apply"); code != exitOK {
		t.Fatalf("apply again: exit %d\n%s\n%s", code, out, errOut)
	}
	if msgs := u.pf.Settle(t, time.Minute); len(msgs) != 2 {
		t.Fatalf("%d mails after a second good deployment, want still 2", len(msgs))
	}

	// A hand edit of the live state: the drift check records it and mails
	// once; the same drift found again mails nothing.
	world := filepath.Join(u.dir, "world.json")
	b, err := os.ReadFile(world)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(world, bytes.Replace(b, []byte(`"v1"`), []byte(`"by-hand"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	msgs = u.twice(exitDrift, "1 to change", "drift")
	if len(msgs) != 3 {
		t.Fatalf("%d mails after drift was found twice, want 3", len(msgs))
	}
	if ev := msgs[2].Header.Get("X-Gitops-Runner-Event"); ev != "drift" {
		t.Errorf("second mail is about %q, want drift", ev)
	}
	if code, out := u.nagios(); code != 1 || !strings.HasPrefix(out, "RUNNER WARNING - infra: 1 resource drifted") {
		t.Errorf("plugin after drift: exit %d, want 1 (WARNING):\n%s", code, out)
	}
	if code, out := u.nagios("--queue-warning", "soon"); code != 3 || !strings.HasPrefix(out, "RUNNER UNKNOWN - ") {
		t.Errorf("plugin with a bad flag: exit %d, want 3 (UNKNOWN):\n%s", code, out)
	}

	// The backend cannot be observed (as with a wrong token): no drift is
	// seen and nothing renewed. One mail however often the pass fails, a
	// Nagios warning, and one "recovered" mail when it works again.
	if err := os.WriteFile(world, []byte("not the world"), 0o600); err != nil {
		t.Fatal(err)
	}
	msgs = u.twice(exitFailed, "failed in observe", "reconcile")
	if len(msgs) != 4 {
		t.Fatalf("%d mails after a check failed twice, want 4", len(msgs))
	}
	if ev, body := msgs[3].Header.Get("X-Gitops-Runner-Event"), postfixtest.Body(t, msgs[3]); ev != "check-failed" || !strings.Contains(body, "no certificate is renewed") {
		t.Errorf("mail about %q, want check-failed:\n%s", ev, body)
	}
	if code, out := u.nagios(); code != 1 || !strings.HasPrefix(out, "RUNNER WARNING - infra: last unattended pass drift check ") || !strings.Contains(out, "'pass_failed'=1;") {
		t.Errorf("plugin after a failed check: exit %d, want 1 (WARNING):\n%s", code, out)
	}
	if err := os.WriteFile(world, b, 0o600); err != nil {
		t.Fatal(err)
	}
	msgs = u.twice(exitOK, "", "reconcile")
	if len(msgs) != 5 || msgs[4].Header.Get("X-Gitops-Runner-Event") != "recovered" {
		t.Fatalf("%d mails after the check works again, want 5, the last recovered", len(msgs))
	}
	if code, out := u.nagios(); code != 0 || !strings.HasPrefix(out, "RUNNER OK - ") {
		t.Errorf("plugin after the check works again: exit %d, want 0 (OK):\n%s", code, out)
	}
}

// twice runs a runner command twice, each time wanting the exit code and
// output given, and returns the mails in the mailbox once it settled.
func (u *unattended) twice(code int, out string, args ...string) []*mail.Message {
	u.t.Helper()
	for range 2 {
		if c, o, errOut := u.runner(args...); c != code || !strings.Contains(o, out) {
			u.t.Fatalf("runner %s: exit %d, want %d with %q\n%s\n%s", strings.Join(args, " "), c, code, out, o, errOut)
		}
	}
	return u.pf.Settle(u.t, time.Minute)
}

// metrics starts `runner serve --metrics-listen` (the built runner, as the
// service runs), scrapes /metrics once it answers, checks that it holds the
// lines wanted and passes `promtool check metrics`, and stops the service.
func (u *unattended) metrics(want ...string) {
	u.t.Helper()
	scrape, stop := serveMetrics(u.t, u.config, freeAddr(u.t), gitrepotest.CleanEnv())
	defer stop()
	body := scrape()
	for _, w := range want {
		if !strings.Contains(body, w) {
			u.t.Errorf("metrics lack %s", w)
		}
	}
	if u.t.Failed() {
		u.t.Logf("metrics:\n%s", body)
	}
	promtest.Check(u.t, body)
}

// freeAddr is a loopback address free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() //nolint:errcheck // only its port was wanted
	return l.Addr().String()
}

// serveMetrics starts `runner serve --metrics-listen addr` with config (the
// built runner, no queue or reconcile passes to speak of) and returns a
// function that scrapes /metrics, waiting until it answers, and one that
// stops the service.
func serveMetrics(t *testing.T, config, addr string, env []string) (scrape func() string, stop func()) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(plugin(t), "--config", config, "serve", "--metrics-listen", addr, "--work-interval", "1h", "--drift-interval", "0")
	cmd.Env, cmd.Stderr = env, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	scrape = func() string {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return string(b)
				}
			}
			if time.Now().After(deadline) {
				stop()
				t.Fatalf("runner serve --metrics-listen %s never answered: %v\n%s", addr, err, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return scrape, stop
}
