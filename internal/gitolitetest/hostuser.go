package gitolitetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostUser is the account that owns the Gitolite installation and as which
// sshd, gitolite-shell and the hooks run (Debian's "gitolite3" user).
type hostUser struct {
	name string
	uid  uint32
	gid  uint32
	// dedicated is true when the harness created the account (running as
	// root) and must delete it again.
	dedicated bool
}

// newUserName returns a unique, valid login name (at most 32 characters,
// [a-z0-9-]) so that parallel tests, even in different test binaries, never
// share an account.
func newUserName() (string, error) {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random user name: %w", err)
	}
	return "gltest-" + hex.EncodeToString(b), nil
}

// createUser adds a system account with the given HOME, the way Debian's
// gitolite3 postinst does ("adduser --system ... --group"), using useradd
// from the essential passwd package.
func createUser(ctx context.Context, useradd, home string) (hostUser, error) {
	name, err := newUserName()
	if err != nil {
		return hostUser{}, err
	}
	err = retryLocked(ctx, useradd, "--system", "--no-create-home", "--home-dir", home,
		"--shell", "/bin/sh", "--user-group", "--comment", "gitolitetest hosting user", name)
	if err != nil {
		return hostUser{}, fmt.Errorf("create hosting user %s: %w", name, err)
	}
	u, err := user.Lookup(name)
	if err != nil {
		return hostUser{}, fmt.Errorf("look up new user %s: %w", name, err)
	}
	return toHostUser(u, true)
}

// currentUser is the hosting user when the test does not run as root: a
// non-root sshd can only log in the account it runs as.
func currentUser() (hostUser, error) {
	u, err := user.Current()
	if err != nil {
		return hostUser{}, fmt.Errorf("current user: %w", err)
	}
	return toHostUser(u, false)
}

func toHostUser(u *user.User, dedicated bool) (hostUser, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return hostUser{}, fmt.Errorf("uid of %s: %w", u.Username, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return hostUser{}, fmt.Errorf("gid of %s: %w", u.Username, err)
	}
	return hostUser{name: u.Username, uid: uint32(uid), gid: uint32(gid), dedicated: dedicated}, nil
}

// deleteUser kills every process still running as the dedicated user (for
// example a hook's detached worker), then removes the account and its group.
// The uid is unique to this server, so nothing else is affected.
func deleteUser(ctx context.Context, userdel string, u hostUser) error {
	if !u.dedicated {
		return nil
	}
	if err := killUIDProcesses(ctx, u.uid); err != nil {
		return err
	}
	if err := retryLocked(ctx, userdel, u.name); err != nil {
		return fmt.Errorf("delete hosting user %s: %w", u.name, err)
	}
	return nil
}

// killUIDProcesses sends SIGKILL to every process whose real uid is uid and
// waits until none is left.
func killUIDProcesses(ctx context.Context, uid uint32) error {
	for {
		pids, err := uidProcesses(uid)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			// The process may have exited meanwhile; ESRCH is fine.
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("kill pid %d of uid %d: %w", pid, uid, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processes of uid %d still running: %v: %w", uid, pids, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// uidProcesses lists the live (non-zombie) processes whose real uid is uid.
func uidProcesses(uid uint32) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	want := strconv.FormatUint(uint64(uid), 10)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue // exited
		}
		var uidLine, state string
		for line := range strings.Lines(string(status)) {
			switch {
			case strings.HasPrefix(line, "Uid:"):
				uidLine = line
			case strings.HasPrefix(line, "State:"):
				state = line
			}
		}
		f := strings.Fields(uidLine)
		if len(f) >= 2 && f[1] == want && !strings.Contains(state, "zombie") {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// retryLocked runs a shadow-utils command, retrying while another process
// (a parallel test, even in another test binary) holds the /etc/passwd
// lock: useradd and userdel then fail at once with "cannot lock".
func retryLocked(ctx context.Context, prog string, args ...string) error {
	for attempt := 0; ; attempt++ {
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, prog, args...)
		cmd.Stdout = &out
		cmd.Stderr = &out
		err := cmd.Run()
		if err == nil {
			return nil
		}
		msg := strings.TrimSpace(out.String())
		if !strings.Contains(msg, "lock") || attempt >= 50 {
			return fmt.Errorf("%s %s: %w: %s", filepath.Base(prog), strings.Join(args, " "), err, msg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %s)", filepath.Base(prog), ctx.Err(), msg)
		case <-time.After(time.Duration(20+attempt*10) * time.Millisecond):
		}
	}
}

// searchableByOthers reports the first ancestor of dir that other users
// cannot traverse: the dedicated hosting user must reach its HOME below
// TMPDIR.
func searchableByOthers(dir string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("stat %s: %w", d, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s (mode %v) is not searchable by other users; "+
				"the hosting user's HOME must live below a directory like /tmp (set TMPDIR)", d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
