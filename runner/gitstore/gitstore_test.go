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

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
)

// gitCmd runs the real git binary.
func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
		"GIT_AUTHOR_NAME=Alice", "GIT_AUTHOR_EMAIL=alice@example.org",
		"GIT_COMMITTER_NAME=Alice", "GIT_COMMITTER_EMAIL=alice@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newRepo makes a bare repo and a clone that pushed two commits to main.
func newRepo(t *testing.T) (bare, work string) {
	t.Helper()
	dir := t.TempDir()
	bare = filepath.Join(dir, "infra.git")
	work = filepath.Join(dir, "work")
	gitCmd(t, dir, "init", "-q", "--bare", "-b", "main", bare)
	gitCmd(t, dir, "clone", "-q", bare, work)
	for i, content := range []string{"{a: 1}", "{a: 2}"} {
		must(t, os.MkdirAll(filepath.Join(work, "lib"), 0o755))
		must(t, os.WriteFile(filepath.Join(work, "main.jsonnet"), []byte(content), 0o644))
		must(t, os.WriteFile(filepath.Join(work, "lib", "x.libsonnet"), []byte(fmt.Sprint(i)), 0o644))
		gitCmd(t, work, "add", "-A")
		gitCmd(t, work, "commit", "-q", "-m", fmt.Sprintf("commit %d", i))
	}
	gitCmd(t, work, "push", "-q", "origin", "main")
	return bare, work
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadAtCommit(t *testing.T) {
	bare, work := newRepo(t)
	r, err := gitstore.Open(bare)
	must(t, err)
	head, err := r.Resolve("main")
	must(t, err)
	if want := gitCmd(t, work, "rev-parse", "HEAD"); head.String() != want {
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
	bare, _ := newRepo(t)
	r, err := gitstore.Open(bare)
	must(t, err)
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
			gitCmd(t, bare, "gc", "-q")
			if _, err := os.Stat(filepath.Join(bare, "refs/heads/status")); !os.IsNotExist(err) {
				t.Fatalf("git gc left refs/heads/status loose (err=%v); test does not exercise packed refs", err)
			}
		}
	}
	if got := gitCmd(t, bare, "rev-list", "--count", "status"); got != "3" {
		t.Errorf("status has %s commits, want 3", got)
	}
	if got := gitCmd(t, bare, "show", "status:STATUS.md"); got != "# run 2" {
		t.Errorf("status:STATUS.md = %q", got)
	}
	if got := gitCmd(t, bare, "log", "-1", "--format=%s", "status"); got != "deploy "+head.String()[:7]+": ok, 2 changed" {
		t.Errorf("status subject = %q", got)
	}
	if got := gitCmd(t, bare, "notes", "--ref=runner", "show", head.String()); got != "run 0: ok\nrun 1: ok\nrun 2: ok" {
		t.Errorf("note = %q", got)
	}
	if got := gitCmd(t, bare, "fsck", "--strict"); strings.Contains(got, "error") {
		t.Errorf("git fsck: %s", got)
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
	bare, work := newRepo(t)
	head := gitCmd(t, work, "rev-parse", "HEAD")
	stdin := func(in string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = bare
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
	gitCmd(t, bare, "update-ref", gitstore.NotesRef, commit)
	if got := gitCmd(t, bare, "notes", "--ref=runner", "show", head); got != "by git" {
		t.Fatalf("git cannot read its own fan-out note: %q", got)
	}
	r, err := gitstore.Open(bare)
	must(t, err)
	must(t, r.AddNote(plumbing.NewHash(head), "runner line", time.Now()))
	if got := gitCmd(t, bare, "notes", "--ref=runner", "show", head); got != "by git\nrunner line" {
		t.Errorf("note = %q", got)
	}
	if got := gitCmd(t, bare, "notes", "--ref=runner", "show", prev); got != "other" {
		t.Errorf("other note = %q", got)
	}
	if got := gitCmd(t, bare, "notes", "--ref=runner", "list"); strings.Count(got, "\n") != 1 {
		t.Errorf("notes list = %q, want 2 entries", got)
	}
}

// TestConcurrentWritersKeepHistoryLinear races status writers in goroutines
// (each with its own Repo, as separate runner processes would) against the
// real git packing refs, and checks that every commit landed exactly once.
func TestConcurrentWritersKeepHistoryLinear(t *testing.T) {
	bare, _ := newRepo(t)
	const writers, each = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := gitstore.Open(bare)
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
	gitCmd(t, bare, "pack-refs", "--all")
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := gitCmd(t, bare, "rev-list", "--count", "status"); got != fmt.Sprint(writers*each) {
		t.Errorf("status has %s commits, want %d", got, writers*each)
	}
	if merges := gitCmd(t, bare, "rev-list", "--merges", "--count", "status"); merges != "0" {
		t.Errorf("status has %s merges, want a linear history", merges)
	}
	seen := map[string]bool{}
	for _, s := range strings.Split(gitCmd(t, bare, "log", "--format=%s", "status"), "\n") {
		if seen[s] {
			t.Errorf("commit %q landed twice", s)
		}
		seen[s] = true
	}
}

func TestUpdateRefCompareAndSwap(t *testing.T) {
	bare, work := newRepo(t)
	r, err := gitstore.Open(bare)
	must(t, err)
	head := plumbing.NewHash(gitCmd(t, work, "rev-parse", "HEAD"))
	prev := plumbing.NewHash(gitCmd(t, work, "rev-parse", "HEAD~1"))
	must(t, r.UpdateRef("refs/heads/x", head, plumbing.ZeroHash))
	err = r.UpdateRef("refs/heads/x", prev, plumbing.ZeroHash)
	var moved *gitstore.RefChangedError
	if !errors.As(err, &moved) {
		t.Fatalf("create of an existing ref: err = %v, want *RefChangedError", err)
	}
	must(t, r.UpdateRef("refs/heads/x", prev, head))
	if got := gitCmd(t, bare, "rev-parse", "x"); got != prev.String() {
		t.Errorf("x = %s, want %s", got, prev)
	}
	// A lock held by git (or a crashed writer) is reported with what to do.
	must(t, os.WriteFile(filepath.Join(bare, "refs/heads/x.lock"), nil, 0o644))
	r.LockTimeout = 50 * time.Millisecond
	if err := r.UpdateRef("refs/heads/x", head, prev); err == nil || !strings.Contains(err.Error(), "remove that file") {
		t.Errorf("update under a held lock: err = %v", err)
	}
}

// cleanEnv is the environment without GIT_* variables, so tests run inside a
// git hook or rebase never act on the outer repository.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestStaleLockOfDeadRunner: a runner killed between taking the status ref's
// lock file and renaming it leaves the lock behind; the next runner, holding
// the runner's repo lock, breaks it instead of failing every run.
func TestStaleLockOfDeadRunner(t *testing.T) {
	bare, _ := newRepo(t)
	r, err := gitstore.Open(bare)
	must(t, err)
	r.LockTimeout = 50 * time.Millisecond
	files := map[string][]byte{"STATUS.md": []byte("x")}
	_, err = r.AppendStatus("status", files, "one\n", time.Now())
	must(t, err)
	must(t, os.WriteFile(filepath.Join(bare, "refs/heads/status.lock"), nil, 0o644))
	if _, err := r.AppendStatus("status", files, "two\n", time.Now()); err == nil {
		t.Fatal("without the runner lock, a held ref lock must not be broken")
	}
	r.HoldingRunnerLock(true)
	_, err = r.AppendStatus("status", files, "two\n", time.Now())
	must(t, err)
	if got := gitCmd(t, bare, "rev-list", "--count", "status"); got != "2" {
		t.Errorf("status has %s commits", got)
	}
	// Other refs' locks (git's own, e.g. a push in progress) are never broken.
	must(t, os.WriteFile(filepath.Join(bare, "refs/heads/main.lock"), nil, 0o644))
	head, err := r.Resolve("main")
	must(t, err)
	if err := r.UpdateRef("refs/heads/main", head, head); err == nil {
		t.Error("a lock on main was broken")
	}
}
