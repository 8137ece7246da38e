package dnsmasq

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"
)

// transport reaches a site's files and runs its commands: on the runner's
// host (localFS) or on the site's DNS host over SSH (sshFS). Paths are
// absolute paths on that host.
type transport interface {
	// read returns a file's content; a missing file reads as empty.
	read(ctx context.Context, path string) ([]byte, error)
	// write creates or truncates path with data (mode 0644) and makes it
	// durable.
	write(ctx context.Context, path string, data []byte) error
	// rename moves from over to atomically (same directory).
	rename(ctx context.Context, from, to string) error
	// remove deletes a file; a missing file is no error.
	remove(ctx context.Context, path string) error
	// run runs argv and returns its combined output; a non-zero exit is an
	// error carrying that output.
	run(ctx context.Context, argv []string) ([]byte, error)
	// hup sends SIGHUP to the process whose PID is in pidFile.
	hup(ctx context.Context, pidFile string) error
	// where names the host for messages ("local", "ssh runner@flat1:22").
	where() string
}

// localFS is the transport of a site whose dnsmasq runs on the runner's host.
type localFS struct{}

func (localFS) where() string { return "local" }

func (localFS) read(_ context.Context, path string) ([]byte, error) {
	b, err := os.ReadFile(path) //nolint:gosec // a path of the runner config
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (localFS) write(_ context.Context, path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644) //nolint:gosec // dnsmasq must read it after dropping privileges
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func (localFS) rename(_ context.Context, from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(to))
}

func (localFS) remove(_ context.Context, path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (localFS) run(ctx context.Context, argv []string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput() //nolint:gosec // a command of the runner config
	if err != nil {
		return out, &commandError{argv: argv, out: out, err: err}
	}
	return out, nil
}

func (localFS) hup(_ context.Context, pidFile string) error {
	b, err := os.ReadFile(pidFile) //nolint:gosec // a path of the runner config
	if err != nil {
		return fmt.Errorf("read pid file: %w", err)
	}
	pid, err := parsePID(b)
	if err != nil {
		return fmt.Errorf("pid file %s: %w", pidFile, err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP to dnsmasq (pid %d from %s): %w", pid, pidFile, err)
	}
	return nil
}

// parsePID reads a pid file's content: one positive decimal number.
func parsePID(b []byte) (int, error) {
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("want one process ID, got %q", strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// commandError is a command that failed, with its output.
type commandError struct {
	argv []string
	out  []byte
	err  error
}

func (e *commandError) Error() string {
	out := strings.TrimSpace(string(e.out))
	if out == "" {
		return fmt.Sprintf("%s: %v", strings.Join(e.argv, " "), e.err)
	}
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.argv, " "), e.err, out)
}

func (e *commandError) Unwrap() error { return e.err }

// shellQuote quotes one word for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes argv for a POSIX shell.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
