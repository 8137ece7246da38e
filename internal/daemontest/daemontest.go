// Package daemontest runs the real daemons some tests talk to (sshd for the
// Gitolite harness and the dnsmasq SSH transport, one dnsmasq per site): it
// starts one in its own process group, waits until it is ready, and stops
// it when the test ends.
package daemontest

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// ErrExited is wrapped by Start's error when the daemon exited before it
// was ready; for a daemon given a port by FreePort that usually means
// another process took the port first, and the caller tries another one.
var ErrExited = errors.New("exited before it was ready")

// stopWait is how long a stopped daemon has between SIGTERM and SIGKILL.
const stopWait = 5 * time.Second

// Start starts cmd (prepared by the caller: arguments, output, credentials)
// in a process group of its own and calls ready every poll until it
// reports true. Then it registers a cleanup on tb that stops the daemon:
// SIGTERM to the group (the daemon and the sessions or helpers it
// started), SIGKILL after 5 s. A daemon that exits first is an error
// wrapping ErrExited and its exit status; one not ready within timeout is
// stopped and an error. ready is called from Start's goroutine only.
func Start(tb testing.TB, cmd *exec.Cmd, timeout, poll time.Duration, ready func() bool) error {
	tb.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // ESRCH if already gone
		select {
		case <-done:
		case <-time.After(stopWait):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	deadline := time.After(timeout)
	for {
		select {
		case err := <-done:
			return fmt.Errorf("%s %w: %w", cmd.Path, ErrExited, err)
		default:
		}
		if ready() {
			tb.Cleanup(stop)
			return nil
		}
		select {
		case err := <-done:
			return fmt.Errorf("%s %w: %w", cmd.Path, ErrExited, err)
		case <-deadline:
			stop()
			return fmt.Errorf("%s not ready within %s", cmd.Path, timeout)
		case <-time.After(poll):
		}
	}
}

// FreePort is a TCP port of 127.0.0.1 that was free a moment ago: the
// kernel's pick for port 0. Another process may take it before the daemon
// binds it (see ErrExited).
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
