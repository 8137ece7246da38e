package gitolitetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/daemontest"
)

// sshdConfig renders sshd_config. Only public-key logins of the hosting user
// on 127.0.0.1 are possible, and every key in the authorized_keys file
// Gitolite writes carries a forced command="…/gitolite-shell <user>" with
// no-pty and no forwarding.
func (s *Server) sshdConfig(port int, hostKey string, env []string) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("ListenAddress 127.0.0.1:%d", port)
	line("HostKey %s", hostKey)
	line("PidFile none")
	line("AuthorizedKeysFile %s", filepath.Join(s.home, ".ssh", "authorized_keys"))
	line("AllowUsers %s", s.host.name)
	line("AuthenticationMethods publickey")
	line("PubkeyAuthentication yes")
	line("PasswordAuthentication no")
	line("KbdInteractiveAuthentication no")
	line("UsePAM no")
	line("PermitRootLogin no")
	line("AllowTcpForwarding no")
	line("AllowAgentForwarding no")
	line("X11Forwarding no")
	line("PermitTTY no")
	line("PrintMotd no")
	line("LogLevel VERBOSE")
	if !s.host.dedicated {
		// StrictModes checks every directory from authorized_keys up to the
		// user's HOME in /etc/passwd; for the test's own user that walk
		// reaches world-writable /tmp and would refuse the file.
		line("StrictModes no")
	}
	// gitolite-shell finds the rc through HOME. For the dedicated user this
	// equals its passwd HOME; for the test's own user it redirects Gitolite
	// to the temporary installation.
	// All on one line: sshd uses only the first SetEnv line.
	vars := []string{quoteSSHD("HOME=" + s.home)}
	for _, kv := range env {
		vars = append(vars, quoteSSHD(kv))
	}
	line("SetEnv %s", strings.Join(vars, " "))
	return b.String()
}

// quoteSSHD quotes one sshd_config argument.
func quoteSSHD(v string) string { return `"` + v + `"` }

// validEnv checks Options.Env entries.
func validEnv(env []string) error {
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(kv, "\"\n\r\\") {
			return fmt.Errorf("Options.Env entry %q: want KEY=VALUE without quotes, backslashes or newlines", kv)
		}
		if k == "HOME" {
			return fmt.Errorf("Options.Env entry %q: HOME is the hosting user's and cannot be changed", kv)
		}
	}
	return nil
}

// startSSHD generates a host key and runs sshd -D -e as the hosting user on a
// free loopback port. A non-root sshd needs no privilege separation
// directory and can only log in its own user, which is all we need.
func (s *Server) startSSHD(tb testing.TB, opts Options) error {
	tb.Helper()
	ctx := tb.Context()
	dir := filepath.Join(s.root, "sshd")
	if err := s.chown(dir); err != nil {
		return err
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if _, err := s.runHost(ctx, s.progs["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-C", "gitolitetest host", "-f", hostKey); err != nil {
		return err
	}
	pub, err := os.ReadFile(hostKey + ".pub") //nolint:gosec // the key we just generated
	if err != nil {
		return fmt.Errorf("read host key: %w", err)
	}
	f := strings.Fields(string(pub))
	if len(f) < 2 {
		return fmt.Errorf("host key %s.pub: unexpected content", hostKey)
	}
	s.hostKey = f[0] + " " + f[1]

	logf, err := os.OpenFile(s.sshdLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open sshd log: %w", err)
	}
	// sshd keeps its own copy of the descriptor.
	defer func() { _ = logf.Close() }() // write errors surfaced via Fprintf

	// Another process may take the free port before sshd binds it; then
	// sshd exits and we try another one.
	var lastErr error
	for range 5 {
		port := daemontest.FreePort(tb)
		cfgPath := filepath.Join(dir, "sshd_config")
		if err := s.writeHostFile(cfgPath, []byte(s.sshdConfig(port, hostKey, opts.Env)), 0o600); err != nil {
			return err
		}
		// Test the configuration first: a typo must not look like a port clash.
		if _, err := s.runHost(ctx, s.progs["sshd"], "-t", "-f", cfgPath); err != nil {
			return fmt.Errorf("sshd config: %w", err)
		}
		if _, err := fmt.Fprintf(logf, "--- gitolitetest: starting sshd on 127.0.0.1:%d\n", port); err != nil {
			return fmt.Errorf("write sshd log: %w", err)
		}
		lastErr = s.runSSHD(tb, cfgPath, port, logf)
		if lastErr == nil {
			s.port = port
			s.writeKnownHosts()
			return nil
		}
		if !errors.Is(lastErr, daemontest.ErrExited) {
			return lastErr
		}
	}
	return fmt.Errorf("sshd did not start: %w", lastErr)
}

// runSSHD starts sshd and waits until it logs that it listens; it registers
// the cleanup that stops it. An sshd that exits first (its port was taken)
// is an error wrapping daemontest.ErrExited.
func (s *Server) runSSHD(tb testing.TB, cfgPath string, port int, logf *os.File) error {
	// Not CommandContext: sshd must outlive Start and stop only in cleanup.
	cmd := exec.Command(s.progs["sshd"], "-D", "-e", "-f", cfgPath) //nolint:gosec // sshd found by LookPath, our own config
	s.asHost(cmd)
	cmd.Stdout = logf
	cmd.Stderr = logf
	want := fmt.Sprintf("Server listening on 127.0.0.1 port %d.", port)
	err := daemontest.Start(tb, cmd, 15*time.Second, 10*time.Millisecond, func() bool {
		b, err := os.ReadFile(s.sshdLog)
		return err == nil && strings.Contains(string(b), want)
	})
	if err != nil {
		return fmt.Errorf("sshd on port %d: %w (see %s)", port, err, s.sshdLog)
	}
	return nil
}
