package gitstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// NotesRef is where the runner keeps its notes on source commits.
const NotesRef = "refs/notes/runner"

// Signature is who the runner's commits are by.
var Signature = object.Signature{Name: "gitops-runner", Email: "runner@localhost"}

// RefChangedError is a compare-and-swap ref update that lost a race.
type RefChangedError struct {
	Ref       string
	Want, Got plumbing.Hash
}

func (e *RefChangedError) Error() string {
	return fmt.Sprintf("ref %s moved: expected %s, found %s", e.Ref, short(e.Want), short(e.Got))
}

func short(h plumbing.Hash) string {
	if h.IsZero() {
		return "(none)"
	}
	return h.String()[:7]
}

// UpdateRef sets ref name to newH if it currently points to oldH (the zero
// hash: must not exist). It takes git's lock file (<ref>.lock, created
// exclusively), so it is safe against the real git binary and other runners;
// a mismatch is a *RefChangedError.
func (r *Repo) UpdateRef(name string, newH, oldH plumbing.Hash) error {
	return r.updateRef(name, newH, oldH, false)
}

// updateRef is UpdateRef; own says only runners write this ref (the status
// branch, the notes), which allows breaking a stale lock file.
func (r *Repo) updateRef(name string, newH, oldH plumbing.Hash, own bool) error {
	refPath := filepath.Join(r.path, filepath.FromSlash(name))
	if err := r.mkdirAll(filepath.Dir(refPath)); err != nil {
		return fmt.Errorf("update ref %s: %w", name, err)
	}
	lock := refPath + ".lock"
	if r.runnerLocked && own {
		// Only runners write this ref, and we hold the runner lock: a lock
		// file here is from a runner killed mid-write.
		_ = os.Remove(lock)
	}
	f, err := r.acquire(lock, r.LockTimeout)
	if err != nil {
		return fmt.Errorf("update ref %s: %w", name, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = f.Close()
			_ = os.Remove(lock)
		}
	}()
	cur, err := r.readRef(name)
	if err != nil {
		return err
	}
	if cur != oldH {
		return &RefChangedError{Ref: name, Want: oldH, Got: cur}
	}
	if _, err := f.WriteString(newH.String() + "\n"); err != nil {
		return fmt.Errorf("update ref %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("update ref %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("update ref %s: %w", name, err)
	}
	if err := os.Rename(lock, refPath); err != nil {
		return fmt.Errorf("update ref %s: %w", name, err)
	}
	renamed = true
	return atomicfile.SyncDir(filepath.Dir(refPath))
}

// acquire creates the lock file lock as git does (lock_file, lockfile.c:
// mode 0666 less the umask, adjusted for core.sharedRepository), waiting up
// to timeout while another writer holds it.
func (r *Repo) acquire(lock string, timeout time.Duration) (*os.File, error) {
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		f, err := r.createExclusive(lock, 0o666)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s is held by another writer for more than %s; if no git or runner process is running, remove that file", lock, timeout)
		}
		time.Sleep(wait)
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// readRef reads a ref from disk (loose file first, then packed-refs), without
// any cache, so compare-and-swap sees what other processes wrote.
func (r *Repo) readRef(name string) (plumbing.Hash, error) {
	b, err := os.ReadFile(filepath.Join(r.path, filepath.FromSlash(name)))
	switch {
	case err == nil:
		s := strings.TrimSpace(string(b))
		if strings.HasPrefix(s, "ref:") {
			return plumbing.ZeroHash, fmt.Errorf("ref %s is symbolic (%s); the runner writes only plain refs", name, s)
		}
		if !plumbing.IsHash(s) {
			return plumbing.ZeroHash, fmt.Errorf("ref %s holds %q, not a hash", name, s)
		}
		return plumbing.NewHash(s), nil
	case !errors.Is(err, os.ErrNotExist):
		return plumbing.ZeroHash, fmt.Errorf("read ref %s: %w", name, err)
	}
	pf, err := os.Open(filepath.Join(r.path, "packed-refs"))
	if errors.Is(err, os.ErrNotExist) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read packed-refs: %w", err)
	}
	defer pf.Close() //nolint:errcheck // read-only
	sc := bufio.NewScanner(pf)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue
		}
		h, n, ok := strings.Cut(line, " ")
		if ok && n == name {
			return plumbing.NewHash(h), nil
		}
	}
	return plumbing.ZeroHash, sc.Err()
}

// writeBlob, writeTree and writeCommit stage an object in b (see
// objectBatch), or with b nil write it at once (writeObject).
func (r *Repo) writeBlob(b *objectBatch, data []byte) (plumbing.Hash, error) {
	obj := r.repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.put(b, obj)
}

func (r *Repo) writeTree(b *objectBatch, entries []object.TreeEntry) (plumbing.Hash, error) {
	sort.Slice(entries, func(i, j int) bool { return treeKey(entries[i]) < treeKey(entries[j]) })
	t := &object.Tree{Entries: entries}
	obj := r.repo.Storer.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.put(b, obj)
}

func (r *Repo) put(b *objectBatch, obj plumbing.EncodedObject) (plumbing.Hash, error) {
	if b == nil {
		return r.writeObject(obj)
	}
	return r.stageObject(b, obj)
}

// treeKey is git's tree order: directories sort as if their name ended in "/".
func treeKey(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

func (r *Repo) writeCommit(b *objectBatch, tree plumbing.Hash, parent plumbing.Hash, msg string, when time.Time) (plumbing.Hash, error) {
	sig := Signature
	sig.When = when
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: tree}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	obj := r.repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.put(b, obj)
}

// StatusNote is what RecordStatus adds to the note on a source commit:
// Line, given the status commit, returns the line (or lines) to append.
type StatusNote struct {
	Commit plumbing.Hash
	Line   func(statusCommit plumbing.Hash) string
}

// AppendStatus adds a commit to branch whose tree holds exactly files (flat
// names), with the branch's tip as parent, and moves the branch. Writers
// take the branch's lock file in turn: two racing both land, one after the
// other.
func (r *Repo) AppendStatus(branch string, files map[string][]byte, msg string, when time.Time) (plumbing.Hash, error) {
	return r.RecordStatus(branch, files, msg, when, nil)
}

// AddNote appends text (one or more lines) to the note on commit under
// NotesRef, keeping earlier lines: replays of a commit add to its note.
func (r *Repo) AddNote(commit plumbing.Hash, text string, when time.Time) error {
	var b objectBatch
	defer b.flush() //nolint:errcheck // only after an error: unreferenced objects are harmless
	_, err := r.commitRefs(&b, []refCommit{r.noteCommit(commit, func() string { return text }, when)})
	return err
}

// RecordStatus is AppendStatus and, when note is not nil, AddNote of it in
// one write: a run's status commit and the note on its source commit cost
// two rounds of fsync instead of six (see commitRefs). It returns the
// status commit.
func (r *Repo) RecordStatus(branch string, files map[string][]byte, msg string, when time.Time, note *StatusNote) (plumbing.Hash, error) {
	var b objectBatch
	defer b.flush() //nolint:errcheck // only after an error: unreferenced objects are harmless
	// The blobs and the tree are staged before any lock is taken: the
	// inventory of 1000 resources takes ~4 ms to compress.
	var entries []object.TreeEntry
	for name, data := range files {
		h, err := r.writeBlob(&b, data)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("write %s: %w", name, err)
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h})
	}
	tree, err := r.writeTree(&b, entries)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write status tree: %w", err)
	}
	var status plumbing.Hash
	cs := []refCommit{{ref: "refs/heads/" + branch, build: func(b *objectBatch, tip plumbing.Hash) (plumbing.Hash, error) {
		var err error
		status, err = r.writeCommit(b, tree, tip, msg, when)
		return status, err
	}}}
	if note != nil {
		// Built after the status commit (commitRefs keeps the order).
		cs = append(cs, r.noteCommit(note.Commit, func() string { return note.Line(status) }, when))
	}
	hs, err := r.commitRefs(&b, cs)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return hs[0], nil
}

// noteCommit is the move of NotesRef that appends the text line returns
// (called when the commit is built) to the note on commit.
func (r *Repo) noteCommit(commit plumbing.Hash, line func() string, when time.Time) refCommit {
	return refCommit{ref: NotesRef, build: func(b *objectBatch, tip plumbing.Hash) (plumbing.Hash, error) {
		text := line()
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		var entries []object.TreeEntry
		var old []byte
		if !tip.IsZero() {
			var err error
			entries, old, err = r.notesWithout(b, tip, commit)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("read notes: %w", err)
			}
		}
		blob, err := r.writeBlob(b, append(old, text...))
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: commit.String(), Mode: filemode.Regular, Hash: blob})
		tree, err := r.writeTree(b, entries)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		return r.writeCommit(b, tree, tip, "Notes added by 'runner'\n", when)
	}}
}

// refCommit is one ref a write moves to a new commit; build stages that
// commit (and whatever objects it needs) in the batch, on top of the ref's
// tip.
type refCommit struct {
	ref   string
	build func(b *objectBatch, tip plumbing.Hash) (plumbing.Hash, error)
}

// commitRefs moves each ref of cs to the commit its build makes on the
// ref's tip, with b's objects, and returns the commits in the order of cs.
//
// What is fsynced when, and why a crash at any point leaves a sound
// repository:
//
//  1. Each ref's lock file (<ref>.lock, as git takes it) is created, in
//     the order of cs, and held: the tip read under it is the tip the ref
//     moves from (no other runner or git can move it meanwhile), so there
//     is no compare-and-swap to lose. Runners take the status branch's
//     lock before the notes', so two of them cannot deadlock.
//  2. The commits are staged in b and each new tip is written into its
//     lock file, which git does not read as a ref.
//  3. Round 1: b's objects and the lock files are fsynced together, in
//     parallel (one journal commit instead of one per file). The objects
//     are then linked to their names.
//  4. The lock files are renamed over the refs, then round 2: the refs'
//     directories are fsynced, in parallel, which makes the renames
//     durable.
//
// A ref is thus never renamed to a tip whose content or objects are not on
// disk. A crash before round 2 ends leaves each ref at its old tip or its
// new one (rename is atomic), and unreferenced objects, which git prunes.
// Like git's own core.fsyncMethod=batch (bulk-checkin.c), the objects'
// fan-out directories are not fsynced: on the journaling filesystems the
// runner's state lives on (ext4, xfs), metadata changes commit in the order
// made, so the links are durable no later than the renames after them. A
// lock file left by a runner killed before step 4 is removed by the next
// runner holding the repo's runner lock (HoldingRunnerLock).
func (r *Repo) commitRefs(b *objectBatch, cs []refCommit) ([]plumbing.Hash, error) {
	type held struct {
		ref, path, lock string
		f               *os.File
		renamed         bool
	}
	locks := make([]*held, 0, len(cs))
	defer func() {
		for _, l := range locks {
			if !l.renamed {
				_ = l.f.Close()
				_ = os.Remove(l.lock)
			}
		}
	}()
	out := make([]plumbing.Hash, len(cs))
	for i, c := range cs {
		refPath := filepath.Join(r.path, filepath.FromSlash(c.ref))
		if err := r.mkdirAll(filepath.Dir(refPath)); err != nil {
			return nil, fmt.Errorf("update ref %s: %w", c.ref, err)
		}
		lock := refPath + ".lock"
		if r.runnerLocked {
			// Only runners write these refs, and we hold the runner
			// lock: a lock file here is from a runner killed mid-write.
			_ = os.Remove(lock)
		}
		f, err := r.acquire(lock, r.LockTimeout)
		if err != nil {
			return nil, fmt.Errorf("update ref %s: %w", c.ref, err)
		}
		locks = append(locks, &held{ref: c.ref, path: refPath, lock: lock, f: f})
		tip, err := r.readRef(c.ref)
		if err != nil {
			return nil, err
		}
		if out[i], err = c.build(b, tip); err != nil {
			return nil, fmt.Errorf("write commit for %s: %w", c.ref, err)
		}
		if _, err := f.WriteString(out[i].String() + "\n"); err != nil {
			return nil, fmt.Errorf("update ref %s: %w", c.ref, err)
		}
	}
	files := make([]*os.File, len(locks))
	for i, l := range locks {
		files[i] = l.f
	}
	if err := b.flushWith(files); err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, l := range locks {
		if err := os.Rename(l.lock, l.path); err != nil {
			return nil, fmt.Errorf("update ref %s: %w", l.ref, err)
		}
		l.renamed = true
		dirs[filepath.Dir(l.path)] = true
	}
	errs := make(chan error, len(dirs))
	for d := range dirs {
		go func() { errs <- atomicfile.SyncDir(d) }()
	}
	var err error
	for range dirs {
		err = errors.Join(err, <-errs)
	}
	return out, err
}

// notesWithout returns the entries of the notes tree at tip without the note
// for commit, and that note's content. git may have written the note in a
// fan-out directory ("ab/cdef…"); such a subtree is rewritten without it.
func (r *Repo) notesWithout(b *objectBatch, tip, commit plumbing.Hash) ([]object.TreeEntry, []byte, error) {
	c, err := r.Commit(tip)
	if err != nil {
		return nil, nil, err
	}
	t, err := c.Tree()
	if err != nil {
		return nil, nil, err
	}
	hex := commit.String()
	var out []object.TreeEntry
	var old []byte
	for _, e := range t.Entries {
		switch {
		case e.Name == hex:
			old, err = r.blob(e.Hash)
			if err != nil {
				return nil, nil, err
			}
			continue
		case e.Mode == filemode.Dir && len(e.Name) == 2 && strings.HasPrefix(hex, e.Name):
			sub, err := r.repo.TreeObject(e.Hash)
			if err != nil {
				return nil, nil, err
			}
			var keep []object.TreeEntry
			for _, se := range sub.Entries {
				if se.Name == hex[2:] {
					if old, err = r.blob(se.Hash); err != nil {
						return nil, nil, err
					}
					continue
				}
				keep = append(keep, se)
			}
			if len(keep) == 0 {
				continue
			}
			if len(keep) != len(sub.Entries) {
				h, err := r.writeTree(b, keep)
				if err != nil {
					return nil, nil, err
				}
				e.Hash = h
			}
		}
		out = append(out, e)
	}
	return out, old, nil
}

func (r *Repo) blob(h plumbing.Hash) ([]byte, error) {
	b, err := r.repo.BlobObject(h)
	if err != nil {
		return nil, err
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close() //nolint:errcheck // read-only
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rd)
	return buf.Bytes(), err
}

// Note returns the runner's note on commit ("" when there is none).
func (r *Repo) Note(commit plumbing.Hash) (string, error) {
	tip, err := r.readRef(NotesRef)
	if err != nil || tip.IsZero() {
		return "", err
	}
	_, old, err := r.notesWithout(nil, tip, commit)
	return string(old), err
}

// StatusFile reads a file at the tip of the status branch; nil, nil when the
// branch or the file does not exist yet.
func (r *Repo) StatusFile(branch, name string) ([]byte, error) {
	tip, err := r.readRef("refs/heads/" + branch)
	if err != nil || tip.IsZero() {
		return nil, err
	}
	s, err := r.Snapshot(tip)
	if err != nil {
		return nil, err
	}
	b, err := s.ReadFile(name)
	if errors.Is(err, ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Log returns up to n commits of branch, newest first, following first parents.
func (r *Repo) Log(branch string, n int) ([]*object.Commit, error) {
	tip, err := r.readRef("refs/heads/" + branch)
	if err != nil || tip.IsZero() {
		return nil, err
	}
	var out []*object.Commit
	h := tip
	for len(out) < n && !h.IsZero() {
		c, err := r.Commit(h)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		h = plumbing.ZeroHash
		if len(c.ParentHashes) > 0 {
			h = c.ParentHashes[0]
		}
	}
	return out, nil
}
