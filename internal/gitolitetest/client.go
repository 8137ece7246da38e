package gitolitetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// validUser is Gitolite's user name pattern (Gitolite::Rc $USERNAME_PATT),
// minus "@" which would need a keydir sub-directory layout.
var validUser = regexp.MustCompile(`^[0-9a-zA-Z][-0-9a-zA-Z._+]*$`)

// userDir holds a client user's key and HOME.
func (s *Server) userDir(name string) string { return filepath.Join(s.clientDir, "users", name) }

func (s *Server) knownHosts() string { return filepath.Join(s.clientDir, "known_hosts") }

// newClientUser generates the user's ssh key and a git HOME, and returns the
// public key line.
func (s *Server) newClientUser(ctx context.Context, name string) ([]byte, error) {
	if !validUser.MatchString(name) {
		return nil, fmt.Errorf("invalid user name %q (want %s)", name, validUser)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[name] {
		return nil, fmt.Errorf("user %q already exists", name)
	}
	dir := s.userDir(name)
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("client user %s: %w", name, err)
	}
	key := filepath.Join(dir, "id_ed25519")
	keygen := exec.CommandContext(ctx, s.progs["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key) //nolint:gosec // name is validated
	out, err := keygen.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ssh-keygen for %s: %w: %s", name, err, out)
	}
	// safe.directory: the bare repos on the server's disk belong to the
	// hosting user, and git refuses to read repos of another owner.
	gitconfig := fmt.Sprintf("[user]\n\tname = %s\n\temail = %s@example.test\n"+
		"[init]\n\tdefaultBranch = %s\n[safe]\n\tdirectory = *\n[advice]\n\tdetachedHead = false\n",
		name, name, DefaultBranch)
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig), 0o600); err != nil {
		return nil, fmt.Errorf("client user %s: %w", name, err)
	}
	pub, err := os.ReadFile(key + ".pub") //nolint:gosec // the key we just generated
	if err != nil {
		return nil, fmt.Errorf("client user %s: %w", name, err)
	}
	s.users[name] = true
	return pub, nil
}

// writeKnownHosts pins sshd's host key, so ssh can run with
// StrictHostKeyChecking=yes and prints no "Permanently added" warnings into
// the output tests assert on.
func (s *Server) writeKnownHosts() {
	line := fmt.Sprintf("[127.0.0.1]:%d %s\n", s.port, s.hostKey)
	// Errors surface on first use as a host key verification failure.
	_ = os.WriteFile(s.knownHosts(), []byte(line), 0o600)
}

// URL returns the ssh URL of a Gitolite repository,
// ssh://HOSTUSER@127.0.0.1:PORT/repo.
func (s *Server) URL(repo string) string {
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d/%s", s.host.name, s.port, repo)
}

// GitEnv returns the variables (KEY=VALUE) that make the real git act as
// user: its own HOME with user.name/email and init.defaultBranch, no system
// config, and an ssh command with the user's key and the pinned host key.
// Add them to os.Environ() minus inherited GIT_* variables, as Git does.
// It panics if user has no key (see AddUser); that is a bug in the test.
func (s *Server) GitEnv(user string) []string {
	s.mu.Lock()
	ok := s.users[user]
	s.mu.Unlock()
	if !ok {
		panic(fmt.Sprintf("gitolitetest: GitEnv: unknown user %q (call AddUser first)", user))
	}
	dir := s.userDir(user)
	home := filepath.Join(dir, "home")
	// git runs GIT_SSH_COMMAND through the shell; -F /dev/null keeps the
	// machine's ssh_config out.
	ssh := strings.Join([]string{
		"ssh", "-F", "/dev/null",
		"-i", shellQuote(filepath.Join(dir, "id_ed25519")),
		"-p", strconv.Itoa(s.port),
		"-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + shellQuote(s.knownHosts()),
	}, " ")
	return []string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_SSH_COMMAND=" + ssh,
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// gitCmdEnv is os.Environ() without GIT_* variables (a test run from a git
// hook would inherit GIT_DIR), plus env.
func gitCmdEnv(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// Git runs the real git as user in dir (which may be "" for the current
// directory) and returns its combined stdout and stderr. err is non-nil when
// git exits non-zero; tests of rejected pushes assert on both.
func (s *Server) Git(tb testing.TB, dir, user string, args ...string) (string, error) {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), s.progs["git"], args...) //nolint:gosec // running git for the test is the point
	cmd.Dir = dir
	cmd.Env = gitCmdEnv(s.GitEnv(user))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}
