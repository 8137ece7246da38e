package proxmox

import (
	"errors"
	"fmt"
	"testing"
)

// TestClassify checks that PVE's fixed wordings map to their sentinels, and
// that look-alikes (another object that "does not exist" or "already
// exists") do not.
func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		msg    string
		params map[string]string
		want   error
	}{
		{"lock timeout", 500, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout", nil, ErrGuestLocked},
		{"config locked VM", 500, "VM is locked (backup)", nil, ErrGuestLocked},
		{"config locked CT, wrapped", 500, "unable to start CT 101 - CT is locked (create)", nil, ErrGuestLocked},
		{"lock error other than timeout", 500, "can't lock file '/var/lock/qemu-server/lock-100.conf' - Permission denied", nil, nil},
		{"guest config missing", 500, "Configuration file 'nodes/pve/lxc/101.conf' does not exist", nil, ErrGuestNotFound},
		{"storage missing", 500, "storage 'fast-ssd' does not exist", nil, nil},
		{"volume missing", 500, "volume 'local:vztmpl/x.tar.zst' does not exist", nil, nil},
		{"VMID in use", 500, "CT 101 already exists on node 'pve'", nil, ErrVMIDTaken},
		{"VMID in use, clone of CT", 500, "unable to create CT 105 - VM 105 already exists on node 'pve2'", nil, ErrVMIDTaken},
		{"clone target exists", 500, "unable to create VM 104: config file already exists", nil, ErrVMIDTaken},
		{"nextid asserted", 400, "Parameter verification failed.", map[string]string{"vmid": "VM 101 already exists"}, ErrVMIDTaken},
		{"other parameter", 400, "Parameter verification failed.", map[string]string{"description": "value may only be 8192 characters long"}, nil},
		{"pool exists", 500, "create pool failed: pool 'lab' already exists", nil, nil},
		{"node down 595", 595, "Connection refused", nil, ErrNodeUnreachable},
		{"node down 596", 596, "Connection timed out", nil, ErrNodeUnreachable},
		{"auth", 401, "authentication failure", nil, nil},
	}
	for _, tc := range cases {
		got := classifyAPI(tc.status, tc.msg, tc.params)
		if (got == nil) != (tc.want == nil) || !errors.Is(got, tc.want) {
			t.Errorf("%s: classifyAPI(%d, %q) = %v, want %v", tc.name, tc.status, tc.msg, got, tc.want)
		}
		// Decisions see the error wrapped by do() and Apply.
		err := fmt.Errorf("delete lxc/x: GET /nodes/pve/lxc/101/status/current: %w", &APIError{Status: tc.status, Message: tc.msg, Params: tc.params, Kind: got})
		for _, s := range []error{ErrGuestLocked, ErrGuestNotFound, ErrVMIDTaken, ErrNodeUnreachable} {
			if want := errors.Is(tc.want, s); errors.Is(err, s) != want {
				t.Errorf("%s: errors.Is(err, %v) = %v, want %v", tc.name, s, !want, want)
			}
		}
	}
}

func TestTaskErrorsAreClassified(t *testing.T) {
	t.Parallel()
	locked := fmt.Errorf("start CT 101: %w", newTaskError("UPID:pve:1", "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout"))
	if !errors.Is(locked, ErrGuestLocked) || !isTransient(locked) {
		t.Errorf("a task that timed out on the config lock: Is(ErrGuestLocked)=%v transient=%v, want both", errors.Is(locked, ErrGuestLocked), isTransient(locked))
	}
	taken := newTaskError("UPID:pve:2", "unable to create VM 104: config file already exists")
	if !errors.Is(taken, ErrVMIDTaken) || isTransient(taken) {
		t.Errorf("a clone onto a taken VMID: Is(ErrVMIDTaken)=%v transient=%v, want true, false", errors.Is(taken, ErrVMIDTaken), isTransient(taken))
	}
	other := newTaskError("UPID:pve:3", "command 'lxc-start' failed: exit code 1")
	if errors.Is(other, ErrGuestLocked) || isTransient(other) {
		t.Errorf("a plain task failure is classified: %v", other.kind)
	}
	if (&APIError{Status: 503}).Transient() != true || (&APIError{Status: 500, Message: "x"}).Transient() {
		t.Error("503 must be transient, a plain 500 not")
	}
}
