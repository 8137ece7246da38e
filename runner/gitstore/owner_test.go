package gitstore_test

import (
	"errors"
	"os"
	"strconv"
	"testing"

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
