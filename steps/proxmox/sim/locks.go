package sim

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// configLock simulates the flock PVE takes on a guest's lock file while it
// changes the guest (PVE::Tools::lock_file_full): exclusive or shared, waited
// for up to a timeout.
type configLock struct {
	mu        sync.Mutex
	exclusive bool
	shared    int
	changed   chan struct{} // closed and replaced on every release
}

func newConfigLock() *configLock { return &configLock{changed: make(chan struct{})} }

// acquire waits for the lock up to timeout. It returns false on timeout.
func (l *configLock) acquire(ctx context.Context, shared bool, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		l.mu.Lock()
		ok := !l.exclusive && (shared || l.shared == 0)
		if ok {
			if shared {
				l.shared++
			} else {
				l.exclusive = true
			}
			l.mu.Unlock()
			return true
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

func (l *configLock) release(shared bool) {
	l.mu.Lock()
	if shared {
		l.shared--
	} else {
		l.exclusive = false
	}
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// lockFile is the path of a guest's lock file: qemu-server QemuConfig.pm
// ($lock_dir = "/var/lock/qemu-server", "lock-$vmid.conf") and pve-container
// LXC/Config.pm ("/run/lock/lxc/pve-config-${vmid}.lock").
func lockFile(typ string, vmid int) string {
	if typ == typeLXC {
		return fmt.Sprintf("/run/lock/lxc/pve-config-%d.lock", vmid)
	}
	return fmt.Sprintf("/var/lock/qemu-server/lock-%d.conf", vmid)
}

// lockTimeoutMessage is the error PVE raises when the flock wait times out:
// "can't lock file '$filename' - $@" (pve-common Tools.pm) with run_with_timeout's
// "got timeout".
func lockTimeoutMessage(typ string, vmid int) string {
	return fmt.Sprintf("can't lock file '%s' - got timeout", lockFile(typ, vmid))
}

// guestLock returns the flock of a VMID, creating it on first use.
func (s *Server) guestLock(vmid int) *configLock {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	l := s.locks[vmid]
	if l == nil {
		l = newConfigLock()
		s.locks[vmid] = l
	}
	return l
}
