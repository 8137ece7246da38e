package daemontest_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/daemontest"
)

// A daemon that becomes ready is left running until the test ends and then
// stopped with its process group: the child it started is gone too.
func TestStartStopsTheGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	var child int
	t.Run("daemon", func(t *testing.T) {
		// The "daemon" starts a child, writes its pid, and waits.
		cmd := exec.Command("sh", "-c", `sleep 600 & echo $! > "$1"; wait`, "sh", pidFile)
		polls := 0
		err := daemontest.Start(t, cmd, 10*time.Second, 5*time.Millisecond, func() bool {
			polls++
			b, err := os.ReadFile(pidFile) //nolint:gosec // the test's file
			return err == nil && strings.HasSuffix(string(b), "\n")
		})
		if err != nil {
			t.Fatal(err)
		}
		if polls == 0 {
			t.Fatal("ready was never called")
		}
		b, _ := os.ReadFile(pidFile) //nolint:gosec // the test's file
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &child); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(child, 0); err != nil {
			t.Fatalf("the child is not running while the test runs: %v", err)
		}
	})
	// The subtest's cleanup has stopped the group; the child may take a
	// moment to be reaped by init.
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(child, 0) == nil && !zombie(child) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d still runs after the daemon was stopped", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A daemon that exits before it is ready is ErrExited, with its exit
// status; one that never gets ready is stopped after the timeout.
func TestStartFailures(t *testing.T) {
	t.Parallel()
	err := daemontest.Start(t, exec.Command("sh", "-c", "exit 3"), 10*time.Second, 5*time.Millisecond, func() bool { return false })
	if !errors.Is(err, daemontest.ErrExited) || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("exiting daemon: %v", err)
	}
	err = daemontest.Start(t, exec.Command("sleep", "600"), 50*time.Millisecond, 5*time.Millisecond, func() bool { return false })
	if err == nil || errors.Is(err, daemontest.ErrExited) || !strings.Contains(err.Error(), "not ready within 50ms") {
		t.Errorf("daemon never ready: %v", err)
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	if p := daemontest.FreePort(t); p <= 0 || p > 65535 {
		t.Errorf("FreePort = %d", p)
	}
}

// zombie reports whether process pid has exited and waits to be reaped
// (state Z in /proc/<pid>/stat, proc(5)).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
