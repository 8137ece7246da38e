package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/internal/postfixtest"
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

// TestFailedDeployMailsOnce: a failed deployment produces exactly one mail,
// with the failing step and its hint, and without the resource's secret;
// the deployment that fixes it produces none.
func TestFailedDeployMailsOnce(t *testing.T) {
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
	raw := fmt.Sprint(msgs[0].Header) + body
	if strings.Contains(raw, tokenSecret) {
		t.Errorf("the resource's secret token is in the mail:\n%s", body)
	}

	u.writeConfig()
	if code, out, errOut := u.runner("apply"); code != exitOK {
		t.Fatalf("apply after the fix: exit %d\n%s\n%s", code, out, errOut)
	}
	if msgs := u.pf.Settle(t, time.Minute); len(msgs) != 1 {
		t.Fatalf("%d mails after the fixing deployment, want still 1", len(msgs))
	}
}
