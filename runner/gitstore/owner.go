package gitstore

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// OwnerError says that the runner runs as another user than the one who
// owns the repository. Whatever it wrote there would belong to that other
// user (root included), and the owner's later pushes and runs could fail
// on it; so commands that write refuse (see CheckOwner).
type OwnerError struct {
	// Dir is the repository's git directory.
	Dir string
	// Owner and User are user names (or "uid N" for a uid without one):
	// the owner of Dir and the effective user of this process.
	Owner, User string
	// OwnerUID and UID are their numeric user ids.
	OwnerUID, UID int
}

func (e *OwnerError) Error() string {
	return fmt.Sprintf("%s belongs to %s, but the runner runs as %s: the files it would write there (objects, refs) would belong to %s, and %s's later pushes and runs could fail on them",
		e.Dir, e.Owner, e.User, e.User, e.Owner)
}

// CheckOwner returns an *OwnerError when this process's effective user is
// not the owner of dir (root is no exception), nil when it is. Call it
// before writing to a repository, with the git directory (Repo.Path).
func CheckOwner(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("check the owner of %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil // no owners on this system
	}
	owner, uid := int(st.Uid), os.Geteuid()
	if owner == uid {
		return nil
	}
	return &OwnerError{Dir: dir, Owner: userName(owner), User: userName(uid), OwnerUID: owner, UID: uid}
}

// userName is uid's login name, or "uid N" when it has none.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}
