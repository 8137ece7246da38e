package gitstore_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
)

// revParse is `git rev-parse --verify REV^{commit}` (git warns about
// ambiguous names on stderr, which is dropped).
func revParse(t *testing.T, dir, rev string) string {
	t.Helper()
	cmd := exec.Command("git", "rev-parse", "--verify", "-q", rev+"^{commit}")
	cmd.Dir = dir
	cmd.Env = gitrepotest.Env(dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git rev-parse %s: %v", rev, err)
	}
	return strings.TrimSpace(string(out))
}

// shadowed makes a repo where refs/tags/main points at a side commit and
// refs/remotes/main/HEAD at main~1: each would win git's resolution of
// "main" over refs/heads/main (the tag first).
func shadowed(t *testing.T) (bare string) {
	g := newRepo(t)
	g.Git(g.Work, "checkout", "-q", "-b", "side", "main~1")
	g.Git(g.Work, "commit", "-q", "--allow-empty", "-m", "side")
	g.Git(g.Work, "push", "-q", "origin", "side")
	g.Git(g.Bare, "update-ref", "refs/tags/main", "refs/heads/side")
	g.Git(g.Bare, "update-ref", "refs/remotes/main/HEAD", "refs/heads/main~1")
	return g.Bare
}

func TestResolveAgreesWithGit(t *testing.T) {
	bare := shadowed(t)
	r, err := gitstore.Open(bare)
	must(t, err)
	full := revParse(t, bare, "refs/heads/side")
	for _, rev := range []string{"main", "main~1", "refs/heads/main", "heads/main", "tags/main", "side", "side^", full, full[:7], "HEAD"} {
		x, err := r.ResolveRev(rev)
		must(t, err)
		if want := revParse(t, bare, rev); x.Hash.String() != want {
			t.Errorf("ResolveRev(%q) = %s (%s), git says %s", rev, x.Hash, x, want)
		}
	}
	x, err := r.ResolveRev("main")
	must(t, err)
	if x.Ref != "refs/tags/main" || strings.Join(x.Also, ",") != "refs/heads/main,refs/remotes/main/HEAD" {
		t.Errorf("ResolveRev(main) = ref %s, also %v: want git's refs/tags/main, the others listed", x.Ref, x.Also)
	}
	if x, _ := r.ResolveRev(full); x.Named() {
		t.Errorf("a full hash is not a name: %s", x)
	}
}

func TestPinnedBranchIsItsHeadsRef(t *testing.T) {
	bare := shadowed(t)
	r, err := gitstore.Open(bare)
	must(t, err)
	r.PinBranches("main", "status")
	for rev, want := range map[string]string{"main": "refs/heads/main", "main~1": "refs/heads/main~1", "main^": "refs/heads/main^", "side": "refs/heads/side"} {
		x, err := r.ResolveRev(rev)
		must(t, err)
		if got := revParse(t, bare, want); x.Hash.String() != got {
			t.Errorf("ResolveRev(%q) = %s, want %s (%s)", rev, x.Hash.String()[:7], want, got[:7])
		}
	}
	x, err := r.ResolveRev("main")
	must(t, err)
	if got := x.String(); !strings.HasPrefix(got, "rev main resolved to refs/heads/main (") || !strings.Contains(got, "refs/tags/main, refs/remotes/main/HEAD also exists") {
		t.Errorf("explanation = %q", got)
	}
	h, err := r.Branch("main")
	must(t, err)
	if h.String() != revParse(t, bare, "refs/heads/main") {
		t.Errorf("Branch(main) = %s, want refs/heads/main", h)
	}
	if _, err := r.Branch("status"); err == nil || !strings.Contains(err.Error(), "(refs/heads/status) does not exist") {
		t.Errorf("Branch(status) before any run: %v", err)
	}
}
