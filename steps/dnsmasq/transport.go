package dnsmasq

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"
	"github.com/gitops-runner/gitops-runner/steps"
)

// transport reaches a site's files: on the runner's host (localFS) or on
// the site's DNS host over SSH (sshFS). Paths are absolute paths there.
type transport interface {
	// read returns the content of each path; a missing file reads as nil.
	read(ctx context.Context, paths []string) ([][]byte, error)
	// install replaces a file as described by in: write the new content
	// next to it, check it, rename it into place, reload dnsmasq.
	install(ctx context.Context, in installation) error
	// run runs argv and returns its output (stdout and stderr); a non-zero
	// exit is an error with that output.
	run(ctx context.Context, argv []string) ([]byte, error)
	// where names the host for messages ("local", "ssh runner@flat1:22").
	where() string
}

// installation is one file replacement.
type installation struct {
	path    string
	content []byte
	// check is the new lines as dnsmasq configuration (see checkConf), and
	// test the argv of the check without the --conf-file of check.
	check []byte
	test  []string
	// pidFile or reload make dnsmasq re-read its files (Site.PidFile,
	// Site.Reload).
	pidFile string
	reload  []string
	// what names the file for messages ("servers-file").
	what string
}

// Suffixes of the files install writes next to the file it replaces; they
// are gone when install returns. (The local transport writes the new
// content under atomicfile's temporary name instead of newSuffix.)
const (
	newSuffix   = ".runner-new"        // the new content, renamed into place
	checkSuffix = ".runner-check.conf" // the new lines as configuration, for dnsmasq --test
)

// TestError is `dnsmasq --test` refusing a new file: nothing was changed.
type TestError struct {
	What   string // the file's dnsmasq option, e.g. "servers-file"
	Output string // what dnsmasq said
}

func (e *TestError) Error() string {
	return fmt.Sprintf("dnsmasq --test refused the new %s (nothing was changed): %s", e.What, e.Output)
}

// ReloadError is a failed reload: the new file is in place but dnsmasq may
// still serve the old one until it is reloaded (the change is retried).
type ReloadError struct{ Err error }

func (e *ReloadError) Error() string {
	return "the new file is in place, but reloading dnsmasq failed: " + e.Err.Error()
}

func (e *ReloadError) Unwrap() error { return e.Err }

// localFS is the transport of a site whose dnsmasq runs on the runner's host.
type localFS struct{}

func (localFS) where() string { return "local" }

func (localFS) read(_ context.Context, paths []string) ([][]byte, error) {
	out := make([][]byte, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p) //nolint:gosec // a path of the runner config
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (localFS) install(ctx context.Context, in installation) error {
	// dnsmasq --test reads only the check configuration: the new content
	// is written (next to the file, synced, renamed over it) once it passed.
	check := in.path + checkSuffix
	if err := os.WriteFile(check, in.check, 0o644); err != nil { //nolint:gosec // dnsmasq's own lines, no secret
		return err
	}
	argv := append(append([]string(nil), in.test...), "--conf-file="+check)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput() //nolint:gosec // dnsmasq of the runner config
	_ = os.Remove(check)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return &TestError{What: in.what, Output: strings.TrimSpace(string(out))}
	case err != nil:
		return fmt.Errorf("run %s: %w", argv[0], err)
	}
	// 0644: dnsmasq reads it after dropping privileges.
	if err := atomicfile.Write(in.path, in.content, 0o644); err != nil {
		return err
	}
	if len(in.reload) > 0 {
		out, err := exec.CommandContext(ctx, in.reload[0], in.reload[1:]...).CombinedOutput() //nolint:gosec // a command of the runner config
		if err != nil {
			return steps.Transient(&ReloadError{fmt.Errorf("%s: %w: %s", strings.Join(in.reload, " "), err, strings.TrimSpace(string(out)))})
		}
		return nil
	}
	if err := hupPIDFile(in.pidFile); err != nil {
		return steps.Transient(&ReloadError{err})
	}
	return nil
}

func (localFS) run(ctx context.Context, argv []string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput() //nolint:gosec // a program of the runner config
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// hupPIDFile sends SIGHUP to the process whose PID is in pidFile.
func hupPIDFile(pidFile string) error {
	b, err := os.ReadFile(pidFile) //nolint:gosec // a path of the runner config
	if err != nil {
		return fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("pid file %s: want one process ID, got %q", pidFile, strings.TrimSpace(string(b)))
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP to dnsmasq (pid %d from %s): %w", pid, pidFile, err)
	}
	return nil
}

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
