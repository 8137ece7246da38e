// Package queue serializes the runner's work on a repository: the per-repo
// lock every run holds, and (with the Gitolite hooks) the durable job spool.
// The lock is an flock(2) on a file in the repository's git directory, so a
// holder that dies releases it with its process — it can never be stuck.
package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
)

// LockFile is the lock's name inside the git directory.
const LockFile = "runner.lock"

// Lock is a held per-repo lock.
type Lock struct{ f *os.File }

// LockRepo takes the exclusive lock of the repository at gitDir, waiting
// until it is free or ctx ends. waiting is called once if another run holds
// it (to tell the user why nothing happens).
func LockRepo(ctx context.Context, gitDir string, waiting func()) (*Lock, error) {
	told := false
	wait := 10 * time.Millisecond
	for {
		l, ok, err := TryLockRepo(gitDir)
		if err != nil || ok {
			return l, err
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for the lock %s: %w", filepath.Join(gitDir, LockFile), context.Cause(ctx))
		case <-t.C:
		}
		wait = min(wait*2, 250*time.Millisecond)
	}
}

// TryLockRepo takes the lock if it is free; ok is false when another process
// holds it.
func TryLockRepo(gitDir string) (l *Lock, ok bool, err error) {
	path := filepath.Join(gitDir, LockFile)
	// Read-only is enough for flock(2), so a lock file another user
	// created (a run as root with --allow-other-user) does not lock the
	// owner out; created like git's lock files: 0666 less the umask,
	// adjusted for core.sharedRepository.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, false, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := gitstore.ShareFile(gitDir, path); err != nil && !errors.Is(err, os.ErrPermission) {
		_ = f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		_ = f.Close()
		return nil, false, nil
	}
	if err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, true, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}
