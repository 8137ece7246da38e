package hooks_test

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
)

// TestRootRunLeavesPushesWorking is issue 13's fault 2 end to end: root
// runs the runner on the Gitolite repository. Without --allow-other-user
// it refuses and names the command to run as the hosting user; with it,
// what it writes (objects, refs, notes) gets git's modes, so alice's next
// push through Gitolite is still accepted and deployed.
func TestRootRunLeavesPushesWorking(t *testing.T) {
	testenv.Root(t, "the hosting user must differ from the user running the runner")
	l := newLab(t)
	dir := l.clone()
	c1 := commit(l, dir, "first", map[string]string{"db": "v1"})
	l.git(dir, "push", "-q", "origin", "HEAD:main")
	commit(l, dir, "second", map[string]string{"db": "v2"})
	l.git(dir, "push", "-q", "origin", "HEAD:main")

	asRoot := func(args ...string) (string, error) {
		cmd := exec.Command(l.runner, args...)
		cmd.Dir = l.srv.Home()
		cmd.Env = append(os.Environ(), "RUNNER_CONFIG="+l.config, "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := asRoot("replay", c1)
	if err == nil || !strings.Contains(out, "belongs to "+l.srv.HostUser()+", but the runner runs as root") ||
		!strings.Contains(out, "sudo -u "+l.srv.HostUser()+" runner --config "+l.config+" replay "+c1) {
		t.Fatalf("replay as root: err=%v, want a refusal naming the owner and the command:\n%s", err, out)
	}
	if out, err := asRoot("--allow-other-user", "replay", c1); err != nil || !strings.Contains(out, "replay of "+c1[:7]+": ok, 1 changed") {
		t.Fatalf("replay as root with --allow-other-user: %v\n%s", err, out)
	}

	// world.json stands for the live infrastructure (the test backend's
	// state), which root rewrote as its own: give it back; the repository
	// itself is left as root's run left it.
	home, err := os.Stat(l.srv.Home())
	if err != nil {
		t.Fatal(err)
	}
	st := home.Sys().(*syscall.Stat_t)
	if err := os.Chown(l.world, int(st.Uid), int(st.Gid)); err != nil {
		t.Fatal(err)
	}

	// alice's next push: checked, queued and deployed by the hosting user.
	c3 := commit(l, dir, "third", map[string]string{"db": "v3"})
	out = l.git(dir, "push", "origin", "HEAD:main")
	if !strings.Contains(out, "remote: runner: deploy "+c3[:7]+": ok, 1 changed") {
		t.Fatalf("push after a root run:\n%s", out)
	}
	if got := l.bare("notes", "--ref=runner", "show", c1); !strings.Contains(got, "replay of "+c1[:7]) {
		t.Errorf("note on %s = %q, want the root replay's line", c1[:7], got)
	}
	if w := l.worldValues(); w["db"] != "v3" {
		t.Errorf("world = %v, want db=v3", w)
	}
}
