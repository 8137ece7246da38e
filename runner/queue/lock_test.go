package queue_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/queue"
)

// TestLockFileModes: the lock file is created as git creates its lock
// files (0666 less the umask, adjusted for core.sharedRepository), and a
// lock file another user left behind (a run as root) can still be taken:
// flock(2) needs only a read-only descriptor.
func TestLockFileModes(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	gitDir := filepath.Join(dir, "infra.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "--shared=group", gitDir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	l, ok, err := queue.TryLockRepo(gitDir)
	if err != nil || !ok {
		t.Fatalf("TryLockRepo = %v, %v", ok, err)
	}
	must(t, l.Unlock())
	fi, err := os.Stat(filepath.Join(gitDir, queue.LockFile))
	must(t, err)
	if m := fi.Mode().Perm(); m != 0o660 {
		t.Errorf("lock file mode %04o with core.sharedRepository=group and umask 077, want git's 0660", m)
	}

	// Left by another user, readable but not writable for us.
	lock := filepath.Join(gitDir, queue.LockFile)
	must(t, os.Chmod(lock, 0o444))
	if os.Geteuid() == 0 {
		// root may write anything: leave root's file as a run with
		// umask 022 leaves it, and take the lock as nobody.
		must(t, os.Chmod(lock, 0o644))
		for _, d := range []string{filepath.Dir(dir), dir, gitDir} {
			must(t, os.Chmod(d, 0o755)) //nolint:gosec // nobody must reach the lock file
		}
		must(t, syscall.Setegid(65534))
		must(t, syscall.Seteuid(65534))
		defer func() {
			if err := syscall.Seteuid(0); err != nil {
				panic(err)
			}
			if err := syscall.Setegid(0); err != nil {
				panic(err)
			}
		}()
	}
	l, ok, err = queue.TryLockRepo(gitDir)
	if err != nil || !ok {
		t.Fatalf("TryLockRepo on another user's lock file = %v, %v", ok, err)
	}
	must(t, l.Unlock())
}
