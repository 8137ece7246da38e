package gitstore_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
)

// ownedByAnother is a directory this process's user does not own: as
// root, a new directory given to uid 65534 (nobody); as anyone else, "/".
func ownedByAnother(t *testing.T) (dir string, owner int) {
	t.Helper()
	if os.Geteuid() == 0 {
		dir = t.TempDir()
		must(t, os.Chown(dir, 65534, 65534))
		return dir, 65534
	}
	return "/", 0
}

func TestCheckOwner(t *testing.T) {
	if err := gitstore.CheckOwner(t.TempDir()); err != nil {
		t.Errorf("CheckOwner(own directory) = %v, want nil", err)
	}
	dir, owner := ownedByAnother(t)
	err := gitstore.CheckOwner(dir)
	var oe *gitstore.OwnerError
	if !errors.As(err, &oe) {
		t.Fatalf("CheckOwner(%s, owned by uid %d) = %v, want an *OwnerError", dir, owner, err)
	}
	if oe.OwnerUID != owner || oe.UID != os.Geteuid() || oe.Owner == "" || oe.Owner == "uid "+strconv.Itoa(os.Geteuid()) {
		t.Errorf("OwnerError = %+v, want owner uid %d, user uid %d", oe, owner, os.Geteuid())
	}
	if err := gitstore.CheckOwner(dir + "/no-such-dir"); err == nil || errors.As(err, &oe) {
		t.Errorf("CheckOwner(missing directory) = %v, want an error that is not an *OwnerError", err)
	}
}

// A root run in a repository another user owns (--allow-other-user) gives
// every file and directory it creates to that user: a status commit's
// objects, their fan-out directories and the ref, so the owner's next push
// can write beside them. (git as root would leave them root's.)
func TestRootWritesAsTheOwner(t *testing.T) {
	testenv.Root(t, "to write as root into another user's repository")
	g := newRepo(t)
	must(t, filepath.WalkDir(g.Bare, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	}))
	r, err := gitstore.Open(g.Bare)
	must(t, err)
	_, err = r.AppendStatus("status", map[string][]byte{"STATUS.md": []byte("# ok\n")}, "deploy abc1234: ok", time.Now())
	must(t, err)
	must(t, filepath.WalkDir(g.Bare, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 {
			t.Errorf("%s is owned by uid %d after a root run, want the repository's owner 65534", p, st.Uid)
		}
		return nil
	}))
}
