package gitolitetest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// AddUser creates a client key for name and adds it to Gitolite by pushing
// keydir/<name>.pub in the gitolite-admin repo. Afterwards GitEnv(name) and
// Git(tb, dir, name, ...) act as that user.
func (s *Server) AddUser(tb testing.TB, name string) {
	tb.Helper()
	pub, err := s.newClientUser(tb.Context(), name)
	if err != nil {
		tb.Fatalf("gitolitetest: AddUser: %v", err)
	}
	s.adminPush(tb, "add user "+name, func(clone string) error {
		return os.WriteFile(filepath.Join(clone, "keydir", name+".pub"), pub, 0o600)
	})
}

// AddRepo declares repository name in conf/gitolite.conf, with confLines as
// its rules and options, for example
//
//	RW+ = admin
//	- refs/heads/status = @all
//	option hook.post-receive = gitops
//	config receive.advertisePushOptions = true
//
// and pushes the admin repo, so that Gitolite creates the repository. Rules
// are matched in order: put deny ("-") rules before the RW+ they restrict.
func (s *Server) AddRepo(tb testing.TB, name string, confLines ...string) {
	tb.Helper()
	if !validRepo.MatchString(name) {
		tb.Fatalf("gitolitetest: AddRepo: invalid repo name %q (want %s)", name, validRepo)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nrepo %s\n", name)
	for _, l := range confLines {
		if strings.ContainsAny(l, "\n\r") {
			tb.Fatalf("gitolitetest: AddRepo %s: conf line %q contains a newline", name, l)
		}
		fmt.Fprintf(&b, "    %s\n", l)
	}
	s.adminPush(tb, "add repo "+name, func(clone string) error {
		if strings.Contains(b.String(), "option hook.") {
			s.hookOptions = true // under adminMu
		}
		f, err := os.OpenFile(filepath.Join(clone, "conf", "gitolite.conf"), os.O_APPEND|os.O_WRONLY, 0) //nolint:gosec // our admin clone
		if err != nil {
			return err
		}
		if _, err := f.WriteString(b.String()); err != nil {
			_ = f.Close() // the write error is the one to report
			return err
		}
		return f.Close()
	})
	if _, err := os.Stat(s.RepoPath(name)); err != nil {
		tb.Fatalf("gitolitetest: AddRepo: Gitolite did not create %s: %v", name, err)
	}
}

// validRepo accepts plain repository names (no wildcard repos), optionally
// with sub-directories.
var validRepo = regexp.MustCompile(`^[0-9a-zA-Z][-0-9a-zA-Z._+]*(/[0-9a-zA-Z][-0-9a-zA-Z._+]*)*$`)

// validHook is a file name in $LOCAL_CODE/hooks/repo-specific.
var validHook = regexp.MustCompile(`^[0-9a-zA-Z][-0-9a-zA-Z._]*$`)

// InstallHook puts an executable named name into
// $LOCAL_CODE/hooks/repo-specific/ on the server's disk (owned by the
// hosting user), as an operator does. If a repo already declares an
// "option hook.<type>", it then runs "gitolite setup" as the hosting user,
// as an operator must, so that the hook gets linked; so the order of
// InstallHook and AddRepo does not matter. script must start with a "#!"
// line.
func (s *Server) InstallHook(tb testing.TB, name string, script []byte) {
	tb.Helper()
	if !validHook.MatchString(name) {
		tb.Fatalf("gitolitetest: InstallHook: invalid hook name %q (want %s)", name, validHook)
	}
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	path := filepath.Join(s.LocalCode(), "hooks", "repo-specific", name)
	if err := s.writeHostFile(path, script, 0o755); err != nil {
		tb.Fatalf("gitolitetest: InstallHook: %v", err)
	}
	if !s.hookOptions {
		return // the next admin push links it; saves a setup run (~0.6 s)
	}
	out, err := s.runHost(tb.Context(), s.progs["gitolite"], "setup")
	if err != nil {
		tb.Fatalf("gitolitetest: InstallHook %s: %v", name, err)
	}
	if strings.Contains(out, "WARNING") {
		tb.Logf("gitolitetest: InstallHook %s: gitolite setup:\n%s", name, out)
	}
}

// WriteHostFile writes data to rel (a relative path below the hosting user's
// HOME, parents created), owned by the hosting user with mode perm, and
// returns the absolute path. Use it for what an operator places on the
// server for the hooks: a config file, or a copy of a binary the hooks
// exec (the hosting user cannot read the test's own temp directories).
func (s *Server) WriteHostFile(tb testing.TB, rel string, data []byte, perm os.FileMode) string {
	tb.Helper()
	clean := filepath.Clean(rel)
	if filepath.IsAbs(clean) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		tb.Fatalf("gitolitetest: WriteHostFile: %q is not a relative path below HOME", rel)
	}
	path := filepath.Join(s.home, clean)
	if err := s.mkdirHost(filepath.Dir(path)); err != nil {
		tb.Fatalf("gitolitetest: WriteHostFile: %v", err)
	}
	if err := s.writeHostFile(path, data, perm); err != nil {
		tb.Fatalf("gitolitetest: WriteHostFile: %v", err)
	}
	return path
}

// compileProblems returns the lines of an admin push's output that show
// Gitolite did not take the config as written: FATAL lines, and warnings
// such as "WARNING: syntax error, ignoring: 'RW+ admin'" (the rule is then
// silently dropped and the push still exits 0). The warning about a hook
// that is not installed yet is not a problem: InstallHook links it later.
func compileProblems(out string) string {
	var bad []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.Contains(line, "FATAL"):
		case strings.Contains(line, "WARNING") && !strings.Contains(line, "doesn't exist or is not executable"):
		default:
			continue
		}
		bad = append(bad, line)
	}
	return strings.Join(bad, "\n")
}

// adminPush changes the admin clone with edit, commits and pushes it as
// admin, like an admin does. Gitolite compiles the config in the admin
// repo's post-update hook: its errors do not fail the push, so the output
// is checked (see compileProblems).
func (s *Server) adminPush(tb testing.TB, msg string, edit func(clone string) error) {
	tb.Helper()
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	clone := s.adminClone()
	before, err := s.Git(tb, clone, "admin", "rev-parse", "HEAD")
	if err != nil {
		tb.Fatalf("gitolitetest: %s: %v\n%s", msg, err, before)
	}
	if err := edit(clone); err != nil {
		tb.Fatalf("gitolitetest: %s: edit gitolite-admin: %v", msg, err)
	}
	for _, args := range [][]string{
		{"add", "-A"},
		{"commit", "-q", "-m", msg},
		{"push", "-q", "origin", "HEAD"},
	} {
		out, err := s.Git(tb, clone, "admin", args...)
		if err != nil {
			tb.Fatalf("gitolitetest: %s: %v\n%s", msg, err, out)
		}
		if bad := compileProblems(out); bad != "" {
			// Put the previous config back, so the server stays usable.
			s.adminRollback(tb, strings.TrimSpace(before))
			tb.Fatalf("gitolitetest: %s: Gitolite did not accept the config:\n%s\nfull output:\n%s", msg, bad, out)
		}
		if strings.Contains(out, "WARNING") {
			tb.Logf("gitolitetest: %s:\n%s", msg, out)
		}
	}
}

// adminRollback resets the admin repo to commit and force-pushes it, which
// recompiles the previous config.
func (s *Server) adminRollback(tb testing.TB, commit string) {
	tb.Helper()
	for _, args := range [][]string{
		{"reset", "-q", "--hard", commit},
		{"push", "-q", "--force", "origin", "HEAD"},
	} {
		if out, err := s.Git(tb, s.adminClone(), "admin", args...); err != nil {
			tb.Errorf("gitolitetest: roll back gitolite-admin: %v\n%s", err, out)
			return
		}
	}
}
