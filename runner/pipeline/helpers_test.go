package pipeline_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// infra is an infra repo: a bare repository and a clone that pushes to it
// with the real git binary.
type infra struct {
	t    testing.TB
	bare string
	work string
}

func newInfra(t testing.TB) *infra {
	t.Helper()
	dir := t.TempDir()
	in := &infra{t: t, bare: filepath.Join(dir, "infra.git"), work: filepath.Join(dir, "work")}
	in.git(dir, "init", "-q", "--bare", "-b", "main", in.bare)
	in.git(dir, "clone", "-q", in.bare, in.work)
	return in
}

func (in *infra) git(dir string, args ...string) string {
	in.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
		"GIT_AUTHOR_NAME=Alice", "GIT_AUTHOR_EMAIL=alice@example.org",
		"GIT_COMMITTER_NAME=Alice", "GIT_COMMITTER_EMAIL=alice@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		in.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// push commits files (path → content; "" deletes) and pushes main; it
// returns the new commit.
func (in *infra) push(msg string, files map[string]string) string {
	in.t.Helper()
	for p, c := range files {
		full := filepath.Join(in.work, p)
		if c == "" {
			_ = os.Remove(full)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			in.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			in.t.Fatal(err)
		}
	}
	in.git(in.work, "add", "-A")
	in.git(in.work, "commit", "-q", "--allow-empty", "-m", msg)
	in.git(in.work, "push", "-q", "origin", "HEAD:main")
	return in.git(in.work, "rev-parse", "HEAD")
}

func (in *infra) runner(b *steptest.Backend) *pipeline.Runner {
	in.t.Helper()
	repo, err := gitstore.Open(in.bare)
	if err != nil {
		in.t.Fatal(err)
	}
	reg, err := steps.NewRegistry(b)
	if err != nil {
		in.t.Fatal(err)
	}
	return &pipeline.Runner{Repo: repo, Registry: reg, Exec: steps.ExecOptions{Backoff: 1, MaxBackoff: 1}}
}

// things renders a main.jsonnet with test.thing resources: name → value,
// plus optional extra Jsonnet resource expressions.
func things(kv map[string]string, extra ...string) string {
	var b strings.Builder
	b.WriteString("local r = import 'runner.libsonnet';\nr.output([\n")
	for k, v := range kv {
		b.WriteString("  r.resource('test.thing', '" + k + "', {value: '" + v + "'}),\n")
	}
	for _, e := range extra {
		b.WriteString("  " + e + ",\n")
	}
	b.WriteString("])\n")
	return b.String()
}

// cleanEnv is the environment without GIT_* variables, so tests run inside a
// git hook or rebase never act on the outer repository.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return env
}
