package gitstore

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/helper/mount"
	"github.com/go-git/go-billy/v5/helper/polyfill"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

// OpenQuarantined opens the repository at path so that it also reads the
// objects of a push that is not accepted yet. During a pre-receive hook git
// keeps the pushed objects in a quarantine directory (GIT_QUARANTINE_PATH,
// also GIT_OBJECT_DIRECTORY) with the repository's objects as alternate;
// go-git does not read those variables, so the quarantine is layered over the
// repository's own object store here. Refs come from the repository (the
// pushed ref has not moved yet). quarantine "" is the same as Open.
func OpenQuarantined(path, quarantine string) (*Repo, error) {
	r, err := Open(path)
	if err != nil || quarantine == "" {
		return r, err
	}
	st, err := os.Stat(quarantine)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("quarantine directory %s: not readable (is this running inside a pre-receive hook?)", quarantine)
	}
	// dotgit expects a git directory with an objects/ subdirectory; the
	// quarantine is an objects directory itself, so mount it as "objects" of
	// an empty in-memory root.
	fs := mount.New(memfs.New(), "/objects", osfs.New(filepath.Clean(quarantine)))
	qs := filesystem.NewObjectStorage(dotgit.New(polyfill.New(fs)), cache.NewObjectLRUDefault())
	main := r.repo.Storer.(*filesystem.Storage)
	ov := &overlay{Storage: main, q: qs}
	repo, err := git.Open(ov, nil)
	if err != nil {
		return nil, fmt.Errorf("open %s with quarantine: %w", path, err)
	}
	r.repo, r.quarantine = repo, filepath.Clean(quarantine)
	return r, nil
}

// Quarantine is the quarantine directory the repository was opened with
// (OpenQuarantined), or "".
func (r *Repo) Quarantine() string { return r.quarantine }

// overlay reads objects from the quarantine first, then the repository.
type overlay struct {
	*filesystem.Storage
	q *filesystem.ObjectStorage
}

func (o *overlay) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	if obj, err := o.q.EncodedObject(t, h); err == nil {
		return obj, nil
	}
	return o.Storage.EncodedObject(t, h)
}

func (o *overlay) HasEncodedObject(h plumbing.Hash) error {
	if o.q.HasEncodedObject(h) == nil {
		return nil
	}
	return o.Storage.HasEncodedObject(h)
}

func (o *overlay) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	if n, err := o.q.EncodedObjectSize(h); err == nil {
		return n, nil
	}
	return o.Storage.EncodedObjectSize(h)
}
