// Package gitrepotest makes infra repos for tests: a bare repository and a
// clone that commits and pushes to it with the real git binary, the way an
// operator's pushes reach the runner.
package gitrepotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a bare repository (Bare) and a work tree cloned from it (Work).
type Repo struct {
	tb   testing.TB
	Bare string
	Work string
}

// New makes an empty bare repo with branch main, and its clone.
func New(tb testing.TB) *Repo {
	tb.Helper()
	dir := tb.TempDir()
	r := &Repo{tb: tb, Bare: filepath.Join(dir, "infra.git"), Work: filepath.Join(dir, "work")}
	r.Git(dir, "init", "-q", "--bare", "-b", "main", r.Bare)
	r.Git(dir, "clone", "-q", r.Bare, r.Work)
	return r
}

// Env is the environment for git: no inherited GIT_* variables (a test run
// inside a hook or a rebase must not act on the outer repository), no
// system config, a fixed author.
func Env(home string) []string {
	return append(CleanEnv(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+home,
		"GIT_AUTHOR_NAME=Alice", "GIT_AUTHOR_EMAIL=alice@example.org",
		"GIT_COMMITTER_NAME=Alice", "GIT_COMMITTER_EMAIL=alice@example.org")
}

// Git runs the real git in dir and returns its trimmed output; a failure
// fails the test.
func (r *Repo) Git(dir string, args ...string) string {
	r.tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = Env(dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Push writes files into the work tree (path → content; "" deletes the
// file), commits them and pushes main. It returns the new commit.
func (r *Repo) Push(msg string, files map[string]string) string {
	r.tb.Helper()
	for p, c := range files {
		full := filepath.Join(r.Work, p)
		if c == "" {
			_ = os.Remove(full)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			r.tb.Fatal(err)
		}
	}
	r.Git(r.Work, "add", "-A")
	r.Git(r.Work, "commit", "-q", "--allow-empty", "-m", msg)
	r.Git(r.Work, "push", "-q", "origin", "HEAD:main")
	return r.Git(r.Work, "rev-parse", "HEAD")
}

// CleanEnv is the process environment without GIT_* variables.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return env
}
