// Package gitolitetest runs a real Gitolite (Debian gitolite3) behind a real
// sshd on a loopback port, in a temporary directory, for end-to-end tests of
// the hooks: tests push to it with the real git over ssh, exactly as an
// operator's users do. Admin changes go through the gitolite-admin repo, and
// repo-specific hooks are installed on the server's disk, as on a real host.
package gitolitetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultGitConfigKeys is the rc's GIT_CONFIG_KEYS when Options leaves it
// empty: it lets gitolite.conf set receive.advertisePushOptions with a
// "config" line, which git push -o needs.
const DefaultGitConfigKeys = `receive\.advertisePushOptions`

// DefaultBranch is init.defaultBranch on both sides (server and clients), so
// new repositories' HEAD points at the branch the tests push.
const DefaultBranch = "main"

// Options configures a Server. The zero value is ready to use.
type Options struct {
	// GitConfigKeys is the rc's GIT_CONFIG_KEYS: a space-separated list of
	// regexes of git config keys that gitolite.conf "config" lines may set.
	// Empty means DefaultGitConfigKeys.
	GitConfigKeys string
	// Env holds KEY=VALUE pairs that sshd puts into every session (sshd
	// "SetEnv"), so gitolite-shell and the hooks see them; sessions otherwise
	// get sshd's minimal environment (PATH=/usr/local/bin:/usr/bin:/bin:...).
	Env []string
}

// Server is one running Gitolite + sshd. Its methods may be called from
// parallel tests; admin changes are serialised.
type Server struct {
	root      string // 0711 temp dir holding everything below
	home      string // the hosting user's HOME (Debian: /var/lib/gitolite3)
	clientDir string // keys and client HOMEs, owned by the test's user
	sshdLog   string
	port      int
	host      hostUser
	progs     map[string]string
	hostKey   string // public host key line, for known_hosts

	mu    sync.Mutex
	users map[string]bool // users with a client key

	adminMu sync.Mutex // serialises pushes of the admin clone and gitolite setup
	// hookOptions is set once AddRepo has declared an "option hook.*":
	// from then on InstallHook must re-run the trigger that links hooks.
	hookOptions bool
}

// Start sets up Gitolite in a temporary directory, starts sshd on a free
// 127.0.0.1 port and clones the gitolite-admin repo as user "admin". All of
// it (sshd, the hosting user's processes and account, the files) is removed
// in tb.Cleanup.
//
// When the test runs as root (CI), a dedicated system user with a unique
// name hosts Gitolite and sshd runs as that user; otherwise the test's own
// user does. If a program is missing, Start fails the test when CI=true and
// skips it otherwise, naming the Debian packages to install.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	isRoot := os.Geteuid() == 0
	progs := requirePrograms(tb, isRoot)
	if err := validEnv(opts.Env); err != nil {
		tb.Fatalf("gitolitetest: %v", err)
	}
	ctx := tb.Context()

	root, err := os.MkdirTemp("", "gitolitetest-")
	if err != nil {
		tb.Fatalf("gitolitetest: %v", err)
	}
	// Registered first, so it runs last (after sshd and the user are gone).
	tb.Cleanup(func() {
		if err := os.RemoveAll(root); err != nil {
			tb.Errorf("gitolitetest: remove %s: %v", root, err)
		}
	})
	s := &Server{
		root:      root,
		home:      filepath.Join(root, "home"),
		clientDir: filepath.Join(root, "client"),
		sshdLog:   filepath.Join(root, "sshd.log"),
		progs:     progs,
		users:     map[string]bool{},
	}
	// The dedicated user must traverse root to reach its HOME; nobody else
	// can list it.
	if err := os.Chmod(root, 0o711); err != nil { //nolint:gosec // searchable, not listable or writable
		tb.Fatalf("gitolitetest: %v", err)
	}
	for _, d := range []string{s.home, s.clientDir, filepath.Join(root, "sshd")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			tb.Fatalf("gitolitetest: %v", err)
		}
	}

	if isRoot {
		if err := searchableByOthers(root); err != nil {
			tb.Fatalf("gitolitetest: %v", err)
		}
		s.host, err = createUser(ctx, progs["useradd"], s.home)
		if err != nil {
			tb.Fatalf("gitolitetest: %v", err)
		}
		tb.Cleanup(func() {
			// tb.Context() is already canceled when cleanups run.
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := deleteUser(cctx, progs["userdel"], s.host); err != nil {
				tb.Errorf("gitolitetest: %v", err)
			}
		})
	} else {
		s.host, err = currentUser()
		if err != nil {
			tb.Fatalf("gitolitetest: %v", err)
		}
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			s.dumpLogs(tb)
		}
	})

	adminPub, err := s.newClientUser(ctx, "admin")
	if err != nil {
		tb.Fatalf("gitolitetest: %v", err)
	}
	if err := s.setupGitolite(ctx, opts, adminPub); err != nil {
		tb.Fatalf("gitolitetest: %v", err)
	}
	if err := s.startSSHD(tb, opts); err != nil {
		tb.Fatalf("gitolitetest: %v", err)
	}
	if out, err := s.Git(tb, s.clientDir, "admin", "clone", s.URL("gitolite-admin"), s.adminClone()); err != nil {
		tb.Fatalf("gitolitetest: clone gitolite-admin over ssh: %v\n%s", err, out)
	}
	return s
}

// Home returns the hosting user's HOME: .gitolite.rc, .gitolite/,
// repositories/ and local/ (the rc's LOCAL_CODE) live there.
func (s *Server) Home() string { return s.home }

// HostUser returns the login name of the hosting user (the user part of
// URL, and the account the hooks run as).
func (s *Server) HostUser() string { return s.host.name }

// Port returns sshd's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// LocalCode returns the rc's LOCAL_CODE directory.
func (s *Server) LocalCode() string { return filepath.Join(s.home, "local") }

// RepoPath returns the path of the bare repository name on the server's
// disk. Read it as admin through Git (whose client config trusts it with
// safe.directory): it is owned by the hosting user.
func (s *Server) RepoPath(name string) string {
	return filepath.Join(s.home, "repositories", name+".git")
}

func (s *Server) adminClone() string { return filepath.Join(s.clientDir, "gitolite-admin") }

// hostEnv is the environment of commands run as the hosting user, like
// "su - gitolite3" gives on Debian.
func (s *Server) hostEnv() []string {
	return []string{
		"HOME=" + s.home,
		"USER=" + s.host.name,
		"LOGNAME=" + s.host.name,
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"GIT_CONFIG_NOSYSTEM=1",
	}
}

// asHost prepares cmd to run as the hosting user.
func (s *Server) asHost(cmd *exec.Cmd) {
	cmd.Env = s.hostEnv()
	cmd.Dir = s.home
	if s.host.dedicated {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: s.host.uid, Gid: s.host.gid, Groups: []uint32{},
		}}
	}
}

// runHost runs a program as the hosting user and returns its combined output.
func (s *Server) runHost(ctx context.Context, prog string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	s.asHost(cmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s (as %s): %w\n%s", filepath.Base(prog), strings.Join(args, " "), s.host.name, err, out)
	}
	return string(out), nil
}

// writeHostFile writes a file owned by the hosting user.
func (s *Server) writeHostFile(path string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// WriteFile keeps the mode of an existing file and applies the umask.
	if err := os.Chmod(path, perm); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return s.chown(path)
}

// mkdirHost creates a directory (and parents) owned by the hosting user.
func (s *Server) mkdirHost(path string) error {
	rel, err := filepath.Rel(s.root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("mkdir %s: outside %s", path, s.root)
	}
	d := s.root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		d = filepath.Join(d, part)
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("mkdir %s: %w", d, err)
		}
		if err := s.chown(d); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) chown(path string) error {
	if !s.host.dedicated {
		return nil
	}
	if err := os.Lchown(path, int(s.host.uid), int(s.host.gid)); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

// rcEdits are the changes an operator makes to the default rc that
// "gitolite setup" writes (docs/api-facts.md §7 "Repo-specific hooks").
var rcEdits = []struct {
	what string
	re   *regexp.Regexp
	repl func(opts Options) string
}{
	{
		what: "LOCAL_CODE",
		re:   regexp.MustCompile(`(?m)^\s*#\s*LOCAL_CODE\s*=>\s*"\$ENV\{HOME\}/local",\s*$`),
		repl: func(Options) string { return `    LOCAL_CODE => "$ENV{HOME}/local",` },
	},
	{
		what: "repo-specific-hooks",
		re:   regexp.MustCompile(`(?m)^\s*#\s*'repo-specific-hooks',\s*$`),
		repl: func(Options) string { return `            'repo-specific-hooks',` },
	},
	{
		what: "GIT_CONFIG_KEYS",
		re:   regexp.MustCompile(`(?m)^\s*GIT_CONFIG_KEYS\s*=>\s*'',\s*$`),
		repl: func(opts Options) string {
			keys := opts.GitConfigKeys
			if keys == "" {
				keys = DefaultGitConfigKeys
			}
			return "    GIT_CONFIG_KEYS => '" + strings.ReplaceAll(keys, `'`, `\'`) + "',"
		},
	},
}

// setupGitolite does what the Debian postinst does with an admin key, then
// enables repo-specific hooks in the rc.
func (s *Server) setupGitolite(ctx context.Context, opts Options, adminPub []byte) error {
	if err := s.chown(s.home); err != nil {
		return err
	}
	// The admin repo must stay on master: Gitolite 3.6.12 compiles the
	// config only when refs/heads/master is pushed (Hooks/PostUpdate.pm:23),
	// so init.defaultBranch is set only after setup, for the repos that
	// AddRepo creates (HEAD -> refs/heads/main).
	//
	// "gitolite setup -pk" names the admin after the key file: admin.pub.
	keyDir := filepath.Join(s.root, "setup")
	if err := s.mkdirHost(keyDir); err != nil {
		return err
	}
	pub := filepath.Join(keyDir, "admin.pub")
	if err := s.writeHostFile(pub, adminPub, 0o644); err != nil {
		return err
	}
	if _, err := s.runHost(ctx, s.progs["gitolite"], "setup", "-pk", pub); err != nil {
		return err
	}
	gitconfig := "[init]\n\tdefaultBranch = " + DefaultBranch + "\n"
	if err := s.writeHostFile(filepath.Join(s.home, ".gitconfig"), []byte(gitconfig), 0o600); err != nil {
		return err
	}

	rcPath := filepath.Join(s.home, ".gitolite.rc")
	rc, err := os.ReadFile(rcPath) //nolint:gosec // the rc gitolite setup just wrote
	if err != nil {
		return fmt.Errorf("read rc: %w", err)
	}
	for _, e := range rcEdits {
		if len(e.re.FindAllIndex(rc, -1)) != 1 {
			return fmt.Errorf("edit %s: expected exactly one %s line matching %s", rcPath, e.what, e.re)
		}
		rc = e.re.ReplaceAllLiteral(rc, []byte(e.repl(opts)))
	}
	if err := s.writeHostFile(rcPath, rc, 0o600); err != nil {
		return err
	}
	// The trigger dies if this directory is missing (docs/api-facts.md §7).
	if err := s.mkdirHost(filepath.Join(s.LocalCode(), "hooks", "repo-specific")); err != nil {
		return err
	}
	// Check that Gitolite reads the edited rc as intended. The edits take
	// effect at the next compile (the first AddUser/AddRepo push).
	keys := opts.GitConfigKeys
	if keys == "" {
		keys = DefaultGitConfigKeys
	}
	for _, q := range []struct{ key, want string }{
		{"LOCAL_CODE", s.LocalCode()},
		{"POST_COMPILE", "repo-specific-hooks"},
		{"GIT_CONFIG_KEYS", keys},
	} {
		out, err := s.runHost(ctx, s.progs["gitolite"], "query-rc", q.key)
		if err != nil {
			return err
		}
		if !slices.Contains(strings.Split(strings.TrimSpace(out), "\n"), q.want) {
			return fmt.Errorf("edited rc: gitolite query-rc %s = %q, want it to contain %q", q.key, out, q.want)
		}
	}
	return nil
}

// dumpLogs prints sshd's and Gitolite's logs to the test log.
func (s *Server) dumpLogs(tb testing.TB) {
	tb.Helper()
	if b, err := os.ReadFile(s.sshdLog); err == nil {
		tb.Logf("gitolitetest: sshd log %s:\n%s", s.sshdLog, b)
	}
	logs, _ := filepath.Glob(filepath.Join(s.home, ".gitolite", "logs", "*.log")) // only ErrBadPattern
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil { //nolint:gosec // our own log files
			tb.Logf("gitolitetest: gitolite log %s:\n%s", l, b)
		}
	}
}

// RunAsHost runs a program on the server as the hosting user (as an operator
// does with `sudo -u gitolite3 runner …`), with extra environment, and
// returns its combined output.
func (s *Server) RunAsHost(ctx context.Context, env []string, prog string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	s.asHost(cmd)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s (as %s): %w\n%s", filepath.Base(prog), strings.Join(args, " "), s.host.name, err, out)
	}
	return string(out), nil
}
