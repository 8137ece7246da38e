// Package gitstore is the runner's access to the infra repo: it reads files at
// a commit from a bare repository without a checkout (go-git), and writes the
// status history (commits on the status branch) and notes on source commits
// under refs/notes/runner. Ref updates follow git's own lock-file protocol,
// and every file and directory it creates gets the mode git would give it
// (core.sharedRepository, the umask), so they are safe beside the real git
// binary writing the same repository. CheckOwner tells a command about to
// write whether it runs as the repository's owner.
package gitstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is an opened git repository (bare or not).
type Repo struct {
	path string // the git directory
	// quarantine is the pre-receive quarantine layered over the object
	// store ("" for none), see OpenQuarantined.
	quarantine string
	repo       *git.Repository
	// LockTimeout is how long a ref update waits for another writer's lock
	// file (default 5 s). git's own default, core.filesRefLockTimeout, is
	// 100 ms; status writers may queue behind each other, so we wait longer.
	LockTimeout time.Duration
	// runnerLocked says the caller holds the runner's per-repo lock, so a
	// lock file on a ref only the runner writes (status, notes) was left by
	// a runner that died mid-write and may be broken.
	runnerLocked bool
	// pinned are branch names Resolve reads as refs/heads/<name> only.
	pinned []string
	// shared is core.sharedRepository (permUmask, permGroup, ...): the
	// permissions of every file and directory the runner creates.
	shared int
	// owner, when root writes to a repository another user owns (only with
	// --allow-other-user), is whom every created file and directory is
	// given to, so the owner's later pushes can write beside them.
	owner *fileOwner
}

// HoldingRunnerLock tells the repo that the caller holds the runner's
// per-repo lock (runner/queue): stale lock files on the runner's own refs
// are then removed instead of blocking every later run.
func (r *Repo) HoldingRunnerLock(held bool) { r.runnerLocked = held }

// Open opens the repository at path: a bare repository or a work tree's .git.
func Open(path string) (*Repo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open repo %s: %w (give --repo the path of the bare repository, e.g. /var/lib/gitolite3/repositories/infra.git)", path, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open repo %s: not a directory (give --repo the path of a bare git repository)", path)
	}
	gitDir := abs
	if fi, err := os.Stat(filepath.Join(abs, ".git")); err == nil && fi.IsDir() {
		gitDir = filepath.Join(abs, ".git")
	}
	r, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, fmt.Errorf("open repo %s: not a git repository (give --repo the path of a bare git repository, e.g. one made with `git init --bare`)", path)
		}
		return nil, fmt.Errorf("open repo %s: %w", path, err)
	}
	cfg, err := r.Config()
	if err != nil {
		return nil, fmt.Errorf("open repo %s: read config: %w", path, err)
	}
	shared, err := parseSharedRepository(cfg.Raw.Section("core").Option("sharedRepository"))
	if err != nil {
		return nil, fmt.Errorf("open repo %s: %s: %w", path, filepath.Join(gitDir, "config"), err)
	}
	return &Repo{path: gitDir, repo: r, shared: shared, owner: ownerToKeep(gitDir), LockTimeout: 5 * time.Second}, nil
}

// Path is the repository's git directory.
func (r *Repo) Path() string { return r.path }

// Git is the underlying go-git repository.
func (r *Repo) Git() *git.Repository { return r.repo }

// PinBranches names the configured branches (the deployed and the status
// branch). Resolve reads each of these names, also at the start of a
// revision such as main~2, as refs/heads/<name> and nothing else: git's
// own order would prefer refs/<name>, refs/tags/<name> and a hash prefix,
// which whoever can push could create to make the runner use a commit the
// pre-receive check never saw.
func (r *Repo) PinBranches(names ...string) {
	for _, n := range names {
		if !slices.Contains(r.pinned, n) {
			r.pinned = append(r.pinned, n)
		}
	}
}

// Branch returns the tip of branch name: refs/heads/<name> exactly.
func (r *Repo) Branch(name string) (plumbing.Hash, error) {
	ref := BranchRef(name)
	h, err := r.Ref(ref)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if h.IsZero() {
		return plumbing.ZeroHash, fmt.Errorf("branch %s (%s) does not exist in %s (push it first, or check the branch in the runner config)", name, ref, r.path)
	}
	return h, nil
}

// BranchRef is the full ref of branch name.
func BranchRef(name string) string { return "refs/heads/" + name }

// ShadowRefs lists the refs other than refs/heads/<name> that git resolves
// the short name name to, in git's order (refs/<name>, refs/tags/<name>,
// refs/remotes/<name>, refs/remotes/<name>/HEAD; see gitrevisions(7)): a
// ref at any of them makes "name" mean something other than the branch.
func ShadowRefs(name string) []string {
	var out []string
	for _, rule := range plumbing.RefRevParseRules {
		ref := fmt.Sprintf(rule, name)
		if ref != BranchRef(name) && strings.HasPrefix(ref, "refs/") {
			out = append(out, ref)
		}
	}
	return out
}

// Resolved is what a revision resolved to.
type Resolved struct {
	// Rev is the revision as given.
	Rev string
	// Hash is the commit.
	Hash plumbing.Hash
	// Ref is the full ref the revision's name resolved through ("" when it
	// is a hash).
	Ref string
	// Also lists the other refs with the same short name, which the name
	// did not resolve to.
	Also []string
}

// Named reports whether the revision went through a ref name, or was
// ambiguous, so that saying what it resolved to tells the user something.
func (x Resolved) Named() bool { return x.Ref != "" || len(x.Also) > 0 }

// String says what the revision resolved to, e.g. "rev main resolved to
// refs/heads/main (a3f9c2e); refs/tags/main also exists".
func (x Resolved) String() string {
	to := x.Hash.String()[:7]
	if x.Ref != "" {
		to = x.Ref + " (" + to + ")"
	}
	s := fmt.Sprintf("rev %s resolved to %s", x.Rev, to)
	if len(x.Also) > 0 {
		s += "; " + strings.Join(x.Also, ", ") + " also exists (name it in full to use it)"
	}
	return s
}

// Resolve turns a revision (branch, tag, full or abbreviated hash, `main~2`)
// into a commit hash: ResolveRev without the explanation.
func (r *Repo) Resolve(rev string) (plumbing.Hash, error) {
	x, err := r.ResolveRev(rev)
	return x.Hash, err
}

// ErrNoRevision is the error (wrapped) of a revision that names no commit
// of the repository.
var ErrNoRevision = errors.New("revision not found")

// noRevision is ResolveRev's error for a revision that names no commit: its
// own message, matching ErrNoRevision.
type noRevision struct{ err error }

func (e noRevision) Error() string   { return e.err.Error() }
func (e noRevision) Unwrap() []error { return []error{ErrNoRevision, e.err} }

// ResolveRev resolves a revision as git does (a full hash is the commit;
// a name is looked up as refs/<name>, refs/tags/<name>, refs/heads/<name>,
// refs/remotes/<name>, refs/remotes/<name>/HEAD, in that order; else an
// abbreviated hash), except that a pinned branch name always means
// refs/heads/<name> (PinBranches).
func (r *Repo) ResolveRev(rev string) (Resolved, error) {
	x := Resolved{Rev: rev}
	name, suffix := rev, ""
	if i := strings.IndexAny(rev, "~^"); i >= 0 {
		name, suffix = rev[:i], rev[i:]
	}
	full := ""
	var found []string
	switch {
	case name == "":
	case slices.Contains(r.pinned, name):
		if _, err := r.Branch(name); err != nil {
			return x, err
		}
		full = BranchRef(name)
		for _, ref := range ShadowRefs(name) {
			if h, err := r.Ref(ref); err == nil && !h.IsZero() {
				found = append(found, ref)
			}
		}
	case len(name) == len(plumbing.ZeroHash.String()) && isHex(name):
		// git takes a full hash as the object, whatever refs exist.
	default:
		for _, rule := range plumbing.RefRevParseRules {
			ref := fmt.Sprintf(rule, name)
			if h, err := r.Ref(ref); err == nil && !h.IsZero() {
				found = append(found, ref)
			}
		}
		if len(found) > 0 {
			full, found = found[0], found[1:]
		}
	}
	target := rev
	if full != "" {
		target = full + suffix
		x.Ref, x.Also = full, found
	}
	h, err := r.repo.ResolveRevision(plumbing.Revision(target))
	if err != nil {
		if full != "" {
			return x, noRevision{fmt.Errorf("revision %q (%s) not found in %s: %w (check `git log %s` in the repo)", rev, target, r.path, err, full)}
		}
		return x, noRevision{fmt.Errorf("revision %q not found in %s (check `git log` in the repo; a short hash needs at least 4 characters)", rev, r.path)}
	}
	if _, err := r.repo.CommitObject(*h); err != nil {
		return x, fmt.Errorf("revision %q (%s) is not a commit: %w", rev, h, err)
	}
	x.Hash = *h
	return x, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// Commit returns a commit object.
func (r *Repo) Commit(h plumbing.Hash) (*object.Commit, error) {
	c, err := r.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	return c, nil
}

// Snapshot is the file tree of one commit.
type Snapshot struct {
	Commit *object.Commit
	tree   *object.Tree
}

// Snapshot opens the tree of commit h for reading.
func (r *Repo) Snapshot(h plumbing.Hash) (*Snapshot, error) {
	c, err := r.Commit(h)
	if err != nil {
		return nil, err
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", h, err)
	}
	return &Snapshot{Commit: c, tree: t}, nil
}

// ErrNotExist is returned by ReadFile for a path not in the tree.
var ErrNotExist = errors.New("file does not exist in the commit")

// ReadFile reads a file at the commit. path is slash-separated and relative
// to the repository root.
func (s *Snapshot) ReadFile(path string) ([]byte, error) {
	f, err := s.tree.File(path)
	if err != nil {
		if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
			return nil, fmt.Errorf("%s: %w", path, ErrNotExist)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer rd.Close() //nolint:errcheck // read-only
	return io.ReadAll(rd)
}

// Files lists the files under dir (all files when dir is ""), sorted.
func (s *Snapshot) Files(dir string) ([]string, error) {
	infos, err := s.FileInfos(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, f := range infos {
		out[i] = f.Path
	}
	return out, nil
}

// FileInfo is a file of a commit: its path and its size in bytes.
type FileInfo struct {
	Path string
	Size int64
}

// FileInfos lists the files under dir (all files when dir is "") with their
// sizes, sorted by path, without reading their contents: a caller can
// refuse a huge file before it reads it.
func (s *Snapshot) FileInfos(dir string) ([]FileInfo, error) {
	dir = strings.Trim(dir, "/")
	var out []FileInfo
	err := s.tree.Files().ForEach(func(f *object.File) error {
		if dir == "" || strings.HasPrefix(f.Name, dir+"/") {
			out = append(out, FileInfo{Path: f.Name, Size: f.Size})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// IsAncestor reports whether commit a is an ancestor of (or equal to) b.
func (r *Repo) IsAncestor(a, b plumbing.Hash) (bool, error) {
	if a == b {
		return true, nil
	}
	ca, err := r.Commit(a)
	if err != nil {
		return false, err
	}
	cb, err := r.Commit(b)
	if err != nil {
		return false, err
	}
	return ca.IsAncestor(cb)
}

// Ref returns the hash a reference points to, or the zero hash when it does
// not exist.
func (r *Repo) Ref(name string) (plumbing.Hash, error) {
	ref, err := r.repo.Reference(plumbing.ReferenceName(name), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read ref %s: %w", name, err)
	}
	return ref.Hash(), nil
}
