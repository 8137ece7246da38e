package acme

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
)

// A certificate whose deploy fails is kept (the key 0600, in the state
// directory) and deployed by the next run without a new order: each order
// counts against the CA's duplicate-certificate limit.
func TestFailedDeployKeepsCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	w := &world{b: e.backend(nil), inventory: map[steps.ID]steps.Spec{}}
	desired := map[string]string{"blog": spec("blog.example.com")}
	broken := errors.New("disk full")
	w.b.deployHook = func(string) error { return broken }

	_, o := w.run(t, desired).change(t, "blog")
	if o.Status != steps.StatusFailed || !errors.Is(o.Err, broken) || !strings.Contains(o.Err.Error(), "without a new order") {
		t.Fatalf("status %s, err %v; want the deploy failure, saying the certificate is kept", o.Status, o.Err)
	}
	if n := e.orders.Load(); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
	kept := filepath.Join(e.state, issuedDir, "blog")
	fi, err := os.Stat(filepath.Join(kept, keyFile))
	if err != nil {
		t.Fatalf("the issued key is not kept: %v", err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Fatalf("kept key mode %04o, want 0600", m)
	}
	if _, err := os.Stat(filepath.Join(e.root, "live", "blog", certFile)); !os.IsNotExist(err) {
		t.Fatalf("a failed deploy left files in place: %v", err)
	}

	// The next run deploys the kept certificate: no order.
	w.b.deployHook = nil
	r := w.run(t, desired)
	c := r.plan.Changes[0]
	if c.Action != steps.Create || !strings.Contains(strings.Join(c.Notes, " "), "no new order") {
		t.Fatalf("second run: %s %q; want a create that deploys the kept certificate", c.Action, c.Notes)
	}
	if err := r.failed(); err != nil {
		t.Fatal(err)
	}
	if n := e.orders.Load(); n != 1 {
		t.Fatalf("the second run placed %d new orders, want 0", n-1)
	}
	e.verify("blog", "blog.example.com")
	if _, err := os.Stat(kept); !os.IsNotExist(err) {
		t.Fatalf("the kept copy was not removed after the deploy: %v", err)
	}
	action(t, w.run(t, desired), "blog", steps.NoOp)
	if n := e.orders.Load(); n != 1 {
		t.Fatalf("%d orders after a no-op run, want 1", n)
	}
}

// TestPreflight: a deploy the runner's user cannot carry out fails before
// anything is ordered, naming the field and what to do; the runner runs
// as a non-root user here, as it does under Gitolite (as root the test
// switches its effective user to nobody for the runs).
func TestPreflight(t *testing.T) {
	// Not parallel: as root it changes the process's effective user.
	e := newEnv(t, envOpts{})
	extra := map[string]any{"reloadAllowed": []string{"/bin/sh", "/nonexistent/reload"}}
	locked := filepath.Join(e.root, "locked")
	if err := os.Mkdir(locked, 0o555); err != nil { //nolint:gosec // a directory nobody but root may write
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// nobody must reach the state, the root and Pebble's TLS CA file.
		for _, d := range []string{e.root, e.state} {
			if err := os.Chown(d, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{filepath.Dir(e.root), filepath.Dir(e.state), filepath.Dir(e.caFile)} {
			if err := os.Chmod(p, 0o755); err != nil { //nolint:gosec // test directories
				t.Fatal(err)
			}
		}
		if err := os.Chmod(e.caFile, 0o644); err != nil { //nolint:gosec // a public test CA certificate
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		deploy map[string]any
		field  string
		hint   string
	}{
		{"owner", map[string]any{"owner": "root"}, "deploy.owner", "only root may give a file to another user"},
		{"group", map[string]any{"group": "root"}, "deploy.group", "usermod -aG root "},
		{"dir", map[string]any{"dir": "locked/x"}, "deploy.dir", "cannot write there"},
		{"reload", map[string]any{"reload": map[string]any{"command": []string{"/nonexistent/reload"}}}, "deploy.reload.command", "install it or fix the path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &world{b: e.backend(extra), inventory: map[steps.ID]steps.Spec{}}
			desired := map[string]string{tc.name: specWith(map[string]any{"deploy": tc.deploy}, tc.name+".example.com")}
			var o steps.Outcome
			asNonRoot(t, func() { _, o = w.run(t, desired).change(t, tc.name) })
			var fe *steps.FieldError
			if o.Status != steps.StatusFailed || !errors.As(o.Err, &fe) || fe.Field != tc.field || !strings.Contains(o.Err.Error(), tc.hint) ||
				!strings.Contains(o.Err.Error(), "acme.certificate/"+tc.name) {
				t.Fatalf("status %s, err %v; want a failure naming the resource, %s and %q", o.Status, o.Err, tc.field, tc.hint)
			}
			if n := e.orders.Load(); n != 0 {
				t.Fatalf("%d orders placed for a deploy that cannot succeed, want 0", n)
			}
		})
	}

	// A group the runner's user belongs to is fine without root.
	w := &world{b: e.backend(nil), inventory: map[steps.ID]steps.Spec{}}
	gid := os.Getegid()
	if os.Geteuid() == 0 {
		gid = 65534
	}
	desired := map[string]string{"ok": specWith(map[string]any{"deploy": map[string]any{"group": fmt.Sprint(gid), "keyMode": "0640"}}, "ok.example.com")}
	var r run
	asNonRoot(t, func() { r = w.run(t, desired) })
	if err := r.failed(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(e.root, "live", "ok", keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Gid) != gid || fi.Mode().Perm() != 0o640 {
		t.Fatalf("privkey.pem: gid %d mode %04o, want gid %d mode 0640", st.Gid, fi.Mode().Perm(), gid)
	}
}

// asNonRoot runs f as a user other than root: as root, with the effective
// user and group nobody (65534) and no supplementary groups, restored
// afterwards (Go sets them on every thread of the process); otherwise as
// is.
func asNonRoot(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		f()
		return
	}
	groups, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setgroups(nil); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setegid(65534); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Seteuid(65534); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := syscall.Seteuid(0); err != nil {
			panic(err) // the rest of the tests would run as nobody
		}
		if err := syscall.Setegid(0); err != nil {
			panic(err)
		}
		if err := syscall.Setgroups(groups); err != nil {
			panic(err)
		}
	}()
	f()
}
