package gitstore

import (
	"bytes"
	"compress/zlib"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	gitconfig "github.com/go-git/go-git/v5/plumbing/format/config"
)

// The values of core.sharedRepository as git holds them (git's
// git_config_perm, setup.c): umask (the default), group, everybody, or
// the negative of an octal mode such as 0640 masked with 0666.
const (
	permUmask     = 0
	permGroup     = 0o660
	permEverybody = 0o664
)

// parseSharedRepository reads a core.sharedRepository value as git does
// (git-config(1), core.sharedRepository): "umask"/false/0, "group"/true/1,
// "all"/"world"/"everybody"/2, or an octal mode 0xxx that must give the
// owner read and write.
func parseSharedRepository(v string) (int, error) {
	switch strings.ToLower(v) {
	case "umask":
		return permUmask, nil
	case "group":
		return permGroup, nil
	case "all", "world", "everybody":
		return permEverybody, nil
	}
	i, err := strconv.ParseInt(v, 8, 32)
	if err != nil {
		switch strings.ToLower(v) {
		case "true", "yes", "on":
			return permGroup, nil
		case "", "false", "no", "off":
			return permUmask, nil
		}
		return 0, fmt.Errorf("core.sharedRepository %q: want umask, group, all, true, false or an octal mode such as 0640 (see git help config)", v)
	}
	switch i {
	case 0:
		return permUmask, nil
	case 1:
		return permGroup, nil
	case 2:
		return permEverybody, nil
	}
	if i&0o600 != 0o600 {
		return 0, fmt.Errorf("core.sharedRepository %q: the owner of files must always have read and write permission (see git help config)", v)
	}
	return -int(i & 0o666), nil
}

// sharedPerm is the mode git gives a file or directory of mode mode in a
// repository with core.sharedRepository shared (git's calc_shared_perm
// and adjust_shared_perm, path.c): group or everybody gets the owner's
// read (and write) bits, directories get the read bits copied to the
// execute bits and, when the group gains access, the setgid bit.
func sharedPerm(shared int, mode fs.FileMode) fs.FileMode {
	tweak := fs.FileMode(max(shared, -shared)) & 0o777 //nolint:gosec // |shared| ≤ 0o666
	if mode&0o200 == 0 {
		tweak &^= 0o222
	}
	if mode&0o100 != 0 {
		tweak |= (tweak & 0o444) >> 2
	}
	perm := mode.Perm()
	if shared < 0 {
		perm = tweak
	} else {
		perm |= tweak
	}
	out := mode&^(fs.ModePerm) | perm
	if mode.IsDir() {
		out |= (perm & 0o444) >> 2
		if perm&0o060 != 0 {
			out |= fs.ModeSetgid
		}
	}
	return out
}

// adjustPerm gives path the mode git would (adjust_shared_perm): nothing
// to do with the default core.sharedRepository=umask.
func (r *Repo) adjustPerm(path string) error {
	if r.owner != nil {
		if err := os.Lchown(path, r.owner.uid, r.owner.gid); err != nil {
			return fmt.Errorf("give %s to the repository's owner: %w", path, err)
		}
	}
	if r.shared == permUmask {
		return nil
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	old := fi.Mode() & (fs.ModeDir | fs.ModePerm | fs.ModeSetgid)
	if want := sharedPerm(r.shared, old); want != old {
		if err := os.Chmod(path, want&^fs.ModeDir); err != nil {
			return fmt.Errorf("set the permissions of %s as core.sharedRepository asks: %w", path, err)
		}
	}
	return nil
}

// mkdirAll creates dir and its missing parents as git does
// (safe_create_leading_directories, object-file.c): mode 0777 less the
// umask, then adjusted for core.sharedRepository.
func (r *Repo) mkdirAll(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := r.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return r.adjustPerm(dir)
}

// createExclusive creates path, which must not exist, with mode perm less
// the umask, adjusted for core.sharedRepository: how git creates lock
// files (0666) and object files (0444).
func (r *Repo) createExclusive(path string, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	if err := r.adjustPerm(path); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return f, nil
}

// writeObject stores obj as a loose object the way git does
// (write_loose_object and finalize_object_file, object-file.c): zlib
// compressed into a temporary file of mode 0444 in the object's fan-out
// directory, fsynced, then linked to its name; both the directory and the
// file get core.sharedRepository's permissions. go-git would write mode
// 0600, which the other users of a shared repository cannot read.
func (r *Repo) writeObject(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	var b objectBatch
	h, err := r.stageObject(&b, obj)
	if err == nil {
		err = b.flush()
	}
	return h, err
}

// objectBatch holds loose objects written to temporary files but not yet
// synced or named: git's core.fsyncMethod=batch (bulk-checkin.c). All the
// objects of one commit are written, then fsynced together (concurrently,
// so the filesystem can make them durable in one journal commit instead of
// one per object: 5 objects took one fsync's time instead of five on the
// 2-core test VM), and only then linked to their names. An object is never
// visible under its name before its content is durable, and callers move a
// ref only after flush.
type objectBatch struct {
	pending []stagedObject
}

type stagedObject struct {
	f          *os.File
	tmp, final string
}

// stageObject writes obj to a temporary file of b (see writeObject); flush
// makes it durable and names it. An object that exists already is not
// written again.
func (r *Repo) stageObject(b *objectBatch, obj plumbing.EncodedObject) (plumbing.Hash, error) {
	h := obj.Hash()
	hex := h.String()
	dir := filepath.Join(r.path, "objects", hex[:2])
	// A loose copy exists: done. (Packs are not looked at: go-git loads
	// their index once, and a `git gc` meanwhile would go unseen; a
	// duplicate loose object is harmless, git prunes it.)
	if _, err := os.Stat(filepath.Join(dir, hex[2:])); err == nil {
		return h, nil
	}
	rd, err := obj.Reader()
	if err != nil {
		return h, err
	}
	defer rd.Close() //nolint:errcheck // in-memory reader
	var buf bytes.Buffer
	// Loose objects at zlib level 1, git's default for them
	// (core.looseCompression, git-config(1): "Default is 1 (best speed)");
	// an inventory of 1000 resources (520 kB) compressed in 3.5–4.7 ms
	// instead of 5.9–6.4 ms at level 6 on the 2-core test VM.
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(&buf)
	fmt.Fprintf(zw, "%s %d\x00", obj.Type(), obj.Size())
	if _, err := io.Copy(zw, rd); err != nil {
		return h, err
	}
	if err := zw.Close(); err != nil {
		return h, err
	}
	if err := r.mkdirAll(dir); err != nil {
		return h, fmt.Errorf("write object %s: %w", hex, err)
	}
	tmp, f, err := r.tempFile(dir, "tmp_obj_", 0o444)
	if err != nil {
		return h, fmt.Errorf("write object %s: %w", hex, err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return h, fmt.Errorf("write object %s: %w", hex, err)
	}
	b.pending = append(b.pending, stagedObject{f: f, tmp: tmp, final: filepath.Join(dir, hex[2:])})
	return h, nil
}

// zlibWriters keeps zlib writers for reuse: a new one allocates ~1.3 MB of
// compressor state, which was three quarters of the allocations of a
// status write (BenchmarkRecord1000).
var zlibWriters = sync.Pool{New: func() any {
	zw, _ := zlib.NewWriterLevel(io.Discard, zlib.BestSpeed) // a valid level: no error
	return zw
}}

// flush fsyncs the batch's objects together, then links each to its name
// (like git, so an object someone else wrote meanwhile stays: same name,
// same content). The temporary files are removed either way.
func (b *objectBatch) flush() error { return b.flushWith(nil) }

// flushWith is flush that also fsyncs and closes the files extra (the lock
// files of the refs about to move) in the same round.
func (b *objectBatch) flushWith(extra []*os.File) error {
	files := make([]*os.File, 0, len(b.pending)+len(extra))
	for _, o := range b.pending {
		files = append(files, o.f)
	}
	files = append(files, extra...)
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() {
			errs[i] = f.Sync()
			if cerr := f.Close(); errs[i] == nil {
				errs[i] = cerr
			}
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	for _, o := range b.pending {
		if err == nil {
			if lerr := os.Link(o.tmp, o.final); lerr != nil && !errors.Is(lerr, fs.ErrExist) {
				err = lerr
			}
		}
		_ = os.Remove(o.tmp)
	}
	b.pending = nil
	if err != nil {
		return fmt.Errorf("write objects: %w", err)
	}
	return nil
}

// tempFile creates a new file named prefix plus random characters in dir
// (createExclusive's modes).
func (r *Repo) tempFile(dir, prefix string, perm fs.FileMode) (string, *os.File, error) {
	for {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", nil, err
		}
		p := filepath.Join(dir, prefix+hex.EncodeToString(b[:]))
		f, err := r.createExclusive(p, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return p, f, err
	}
}

// ShareFile gives path, a file the caller created in the repository at
// gitDir with mode 0666 (less the umask), the permissions git would give
// it under the repository's core.sharedRepository (see adjustPerm). For
// files of the runner's own in the git directory, such as the queue's
// lock file.
func ShareFile(gitDir, path string) error {
	shared, err := readSharedRepository(gitDir)
	if err != nil {
		return err
	}
	return (&Repo{shared: shared, owner: ownerToKeep(gitDir)}).adjustPerm(path)
}

// fileOwner is a user and group ID.
type fileOwner struct{ uid, gid int }

// ownerToKeep returns the owner of gitDir when this process runs as root
// and gitDir belongs to another user: a root run (allowed only with
// --allow-other-user) then gives what it creates to that user, as if the
// owner had written it. git itself does not (root's objects stay root's
// and break the owner's next push); nil otherwise.
func ownerToKeep(gitDir string) *fileOwner {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(gitDir)
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	return &fileOwner{uid: int(st.Uid), gid: int(st.Gid)}
}

// readSharedRepository reads core.sharedRepository from gitDir/config
// (permUmask when there is no such file or setting).
func readSharedRepository(gitDir string) (int, error) {
	f, err := os.Open(filepath.Join(gitDir, "config")) //nolint:gosec // the repository's own config
	if errors.Is(err, fs.ErrNotExist) {
		return permUmask, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close() //nolint:errcheck // read-only
	cfg := gitconfig.New()
	if err := gitconfig.NewDecoder(f).Decode(cfg); err != nil {
		return 0, fmt.Errorf("%s: %w", f.Name(), err)
	}
	shared, err := parseSharedRepository(cfg.Section("core").Option("sharedRepository"))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return shared, nil
}
