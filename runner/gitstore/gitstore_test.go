package gitstore_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
)

// newRepo makes a bare repo and a clone that pushed two commits to main.
func newRepo(t *testing.T) *gitrepotest.Repo {
	t.Helper()
	g := gitrepotest.New(t)
	for i, content := range []string{"{a: 1}", "{a: 2}"} {
		g.Push(fmt.Sprintf("commit %d", i), map[string]string{"main.jsonnet": content, "lib/x.libsonnet": fmt.Sprint(i)})
	}
	return g
}

// openNew is newRepo and the gitstore.Repo opened on its bare repository.
func openNew(t *testing.T) (*gitrepotest.Repo, *gitstore.Repo) {
	t.Helper()
	g := newRepo(t)
	r, err := gitstore.Open(g.Bare)
	must(t, err)
	return g, r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadAtCommit(t *testing.T) {
	g, r := openNew(t)
	head, err := r.Resolve("main")
	must(t, err)
	if want := g.Git(g.Work, "rev-parse", "HEAD"); head.String() != want {
		t.Fatalf("Resolve(main) = %s, want %s", head, want)
	}
	prev, err := r.Resolve("main~1")
	must(t, err)
	s, err := r.Snapshot(prev)
	must(t, err)
	b, err := s.ReadFile("main.jsonnet")
	must(t, err)
	if string(b) != "{a: 1}" {
		t.Errorf("main.jsonnet at main~1 = %q", b)
	}
	files, err := s.Files("")
	must(t, err)
	if strings.Join(files, ",") != "lib/x.libsonnet,main.jsonnet" {
		t.Errorf("files = %v", files)
	}
	if _, err := s.ReadFile("nope.jsonnet"); err == nil {
		t.Error("reading a missing file succeeded")
	}
	short := head.String()[:7]
	if h, err := r.Resolve(short); err != nil || h != head {
		t.Errorf("Resolve(%s) = %s, %v", short, h, err)
	}
	if _, err := r.Resolve("no-such-branch"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Resolve(no-such-branch) error = %v", err)
	}
	ok, err := r.IsAncestor(prev, head)
	must(t, err)
	if !ok {
		t.Error("main~1 is not an ancestor of main")
	}
	ok, err = r.IsAncestor(head, prev)
	must(t, err)
	if ok {
		t.Error("main is an ancestor of main~1")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "missing"), dir} {
		if _, err := gitstore.Open(p); err == nil || !strings.Contains(err.Error(), "--repo") {
			t.Errorf("Open(%s) error = %v, want a hint naming --repo", p, err)
		}
	}
}

// TestStatusAndNotesWithRealGit writes status commits and notes, packs refs
// and objects with the real git in between, and reads everything back with git.
func TestStatusAndNotesWithRealGit(t *testing.T) {
	g, r := openNew(t)
	head, err := r.Resolve("main")
	must(t, err)
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		_, err := r.AppendStatus("status", map[string][]byte{
			"STATUS.md":   []byte(fmt.Sprintf("# run %d\n", i)),
			"status.json": []byte(`{"n":` + fmt.Sprint(i) + `}`),
		}, fmt.Sprintf("deploy %s: ok, %d changed\n\nSource-Commit: %s\n", head.String()[:7], i, head), now)
		must(t, err)
		must(t, r.AddNote(head, fmt.Sprintf("run %d: ok", i), now))
		if i == 0 {
			// git gc packs refs and objects: the next writes must still chain.
			g.Git(g.Bare, "gc", "-q")
			if _, err := os.Stat(filepath.Join(g.Bare, "refs/heads/status")); !os.IsNotExist(err) {
				t.Fatalf("git gc left refs/heads/status loose (err=%v); test does not exercise packed refs", err)
			}
		}
	}
	if got := g.Git(g.Bare, "rev-list", "--count", "status"); got != "3" {
		t.Errorf("status has %s commits, want 3", got)
	}
	if got := g.Git(g.Bare, "show", "status:STATUS.md"); got != "# run 2" {
		t.Errorf("status:STATUS.md = %q", got)
	}
	if got := g.Git(g.Bare, "log", "-1", "--format=%s", "status"); got != "deploy "+head.String()[:7]+": ok, 2 changed" {
		t.Errorf("status subject = %q", got)
	}
	if got := g.Git(g.Bare, "notes", "--ref=runner", "show", head.String()); got != "run 0: ok\nrun 1: ok\nrun 2: ok" {
		t.Errorf("note = %q", got)
	}
	if got := g.Git(g.Bare, "fsck", "--strict"); strings.Contains(got, "error") {
		t.Errorf("git fsck: %s", got)
	}
	// Every staged object was named and its temporary file removed.
	if tmps, _ := filepath.Glob(filepath.Join(g.Bare, "objects", "*", "tmp_obj_*")); len(tmps) > 0 {
		t.Errorf("temporary object files left: %v", tmps)
	}
	note, err := r.Note(head)
	must(t, err)
	if !strings.HasPrefix(note, "run 0: ok\n") {
		t.Errorf("Note = %q", note)
	}
}

// TestNotesWrittenByGitFanout extends a notes tree that git laid out with a
// fan-out directory ("ab/cdef…", as git does for large note sets), built with
// git's own plumbing.
func TestNotesWrittenByGitFanout(t *testing.T) {
	g := newRepo(t)
	head := g.Git(g.Work, "rev-parse", "HEAD")
	stdin := func(in string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = g.Bare
		cmd.Stdin = strings.NewReader(in)
		out, err := cmd.Output()
		must(t, err)
		return strings.TrimSpace(string(out))
	}
	blob := stdin("by git\n", "hash-object", "-w", "--stdin")
	other := stdin("other\n", "hash-object", "-w", "--stdin")
	// A second annotated object outside head's fan-out directory.
	var prev string
	for i := 0; prev == "" || prev[:2] == head[:2]; i++ {
		prev = stdin(fmt.Sprint("object ", i), "hash-object", "-w", "--stdin")
	}
	sub := stdin(fmt.Sprintf("100644 blob %s\t%s\n", blob, head[2:]), "mktree")
	entries := fmt.Sprintf("040000 tree %s\t%s\n100644 blob %s\t%s\n", sub, head[:2], other, prev)
	root := stdin(entries, "mktree")
	commit := stdin("", "commit-tree", root, "-m", "notes by git")
	g.Git(g.Bare, "update-ref", gitstore.NotesRef, commit)
	if got := g.Git(g.Bare, "notes", "--ref=runner", "show", head); got != "by git" {
		t.Fatalf("git cannot read its own fan-out note: %q", got)
	}
	r, err := gitstore.Open(g.Bare)
	must(t, err)
	must(t, r.AddNote(plumbing.NewHash(head), "runner line", time.Now()))
	if got := g.Git(g.Bare, "notes", "--ref=runner", "show", head); got != "by git\nrunner line" {
		t.Errorf("note = %q", got)
	}
	if got := g.Git(g.Bare, "notes", "--ref=runner", "show", prev); got != "other" {
		t.Errorf("other note = %q", got)
	}
	if got := g.Git(g.Bare, "notes", "--ref=runner", "list"); strings.Count(got, "\n") != 1 {
		t.Errorf("notes list = %q, want 2 entries", got)
	}
}

// TestConcurrentWritersKeepHistoryLinear races status writers in goroutines
// (each with its own Repo, as separate runner processes would) against the
// real git packing refs, and checks that every commit landed exactly once.
func TestConcurrentWritersKeepHistoryLinear(t *testing.T) {
	g := newRepo(t)
	const writers, each = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := gitstore.Open(g.Bare)
			if err != nil {
				errs <- err
				return
			}
			for i := range each {
				_, err := r.AppendStatus("status", map[string][]byte{"STATUS.md": []byte(fmt.Sprintf("w%d i%d", w, i))},
					fmt.Sprintf("w%d i%d\n", w, i), time.Now())
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	g.Git(g.Bare, "pack-refs", "--all")
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := g.Git(g.Bare, "rev-list", "--count", "status"); got != fmt.Sprint(writers*each) {
		t.Errorf("status has %s commits, want %d", got, writers*each)
	}
	if merges := g.Git(g.Bare, "rev-list", "--merges", "--count", "status"); merges != "0" {
		t.Errorf("status has %s merges, want a linear history", merges)
	}
	seen := map[string]bool{}
	for _, s := range strings.Split(g.Git(g.Bare, "log", "--format=%s", "status"), "\n") {
		if seen[s] {
			t.Errorf("commit %q landed twice", s)
		}
		seen[s] = true
	}
}

func TestUpdateRefCompareAndSwap(t *testing.T) {
	g, r := openNew(t)
	head := plumbing.NewHash(g.Git(g.Work, "rev-parse", "HEAD"))
	prev := plumbing.NewHash(g.Git(g.Work, "rev-parse", "HEAD~1"))
	must(t, r.UpdateRef("refs/heads/x", head, plumbing.ZeroHash))
	err := r.UpdateRef("refs/heads/x", prev, plumbing.ZeroHash)
	var moved *gitstore.RefChangedError
	if !errors.As(err, &moved) {
		t.Fatalf("create of an existing ref: err = %v, want *RefChangedError", err)
	}
	must(t, r.UpdateRef("refs/heads/x", prev, head))
	if got := g.Git(g.Bare, "rev-parse", "x"); got != prev.String() {
		t.Errorf("x = %s, want %s", got, prev)
	}
	// A lock held by git (or a crashed writer) is reported with what to do.
	must(t, os.WriteFile(filepath.Join(g.Bare, "refs/heads/x.lock"), nil, 0o644))
	r.LockTimeout = 50 * time.Millisecond
	if err := r.UpdateRef("refs/heads/x", head, prev); err == nil || !strings.Contains(err.Error(), "remove that file") {
		t.Errorf("update under a held lock: err = %v", err)
	}
}

// TestStaleLockOfDeadRunner: a runner killed between taking the status ref's
// lock file and renaming it leaves the lock behind; the next runner, holding
// the runner's repo lock, breaks it instead of failing every run.
func TestStaleLockOfDeadRunner(t *testing.T) {
	g, r := openNew(t)
	r.LockTimeout = 50 * time.Millisecond
	files := map[string][]byte{"STATUS.md": []byte("x")}
	_, err := r.AppendStatus("status", files, "one\n", time.Now())
	must(t, err)
	must(t, os.WriteFile(filepath.Join(g.Bare, "refs/heads/status.lock"), nil, 0o644))
	if _, err := r.AppendStatus("status", files, "two\n", time.Now()); err == nil {
		t.Fatal("without the runner lock, a held ref lock must not be broken")
	}
	r.HoldingRunnerLock(true)
	_, err = r.AppendStatus("status", files, "two\n", time.Now())
	must(t, err)
	if got := g.Git(g.Bare, "rev-list", "--count", "status"); got != "2" {
		t.Errorf("status has %s commits", got)
	}
	// Other refs' locks (git's own, e.g. a push in progress) are never broken.
	must(t, os.WriteFile(filepath.Join(g.Bare, "refs/heads/main.lock"), nil, 0o644))
	head, err := r.Resolve("main")
	must(t, err)
	if err := r.UpdateRef("refs/heads/main", head, head); err == nil {
		t.Error("a lock on main was broken")
	}
}

// TestRecordStatusWithNote: the status commit and the note naming it are
// one write, checked with the real git; while another writer holds the
// notes ref's lock, neither ref moves and no lock file of the write stays.
func TestRecordStatusWithNote(t *testing.T) {
	g, r := openNew(t)
	head, err := r.Resolve("main")
	must(t, err)
	r.LockTimeout = 50 * time.Millisecond
	line := func(status plumbing.Hash) string { return "deployed, status " + status.String() }
	c, err := r.RecordStatus("status", map[string][]byte{"STATUS.md": []byte("# one\n")}, "one\n", time.Now(),
		&gitstore.StatusNote{Commit: head, Line: line})
	must(t, err)
	if got := g.Git(g.Bare, "rev-parse", "status"); got != c.String() {
		t.Errorf("status = %s, want %s", got, c)
	}
	if got, want := g.Git(g.Bare, "notes", "--ref=runner", "show", head.String()), line(c); got != want {
		t.Errorf("note = %q, want %q", got, want)
	}
	if got := g.Git(g.Bare, "fsck", "--strict"); strings.Contains(got, "error") {
		t.Errorf("git fsck: %s", got)
	}

	notesBefore := g.Git(g.Bare, "rev-parse", gitstore.NotesRef)
	must(t, os.WriteFile(filepath.Join(g.Bare, "refs/notes/runner.lock"), nil, 0o644))
	if _, err := r.RecordStatus("status", map[string][]byte{"STATUS.md": []byte("# two\n")}, "two\n", time.Now(),
		&gitstore.StatusNote{Commit: head, Line: line}); err == nil || !strings.Contains(err.Error(), "remove that file") {
		t.Fatalf("write under a held notes lock: err = %v", err)
	}
	if got := g.Git(g.Bare, "rev-parse", "status"); got != c.String() {
		t.Errorf("status moved to %s though the note could not be written", got)
	}
	if got := g.Git(g.Bare, "rev-parse", gitstore.NotesRef); got != notesBefore {
		t.Errorf("notes moved to %s", got)
	}
	if _, err := os.Stat(filepath.Join(g.Bare, "refs/heads/status.lock")); !os.IsNotExist(err) {
		t.Errorf("status.lock left behind: %v", err)
	}
}
