package gitstore_test

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
)

// TestWritesUseGitsModes writes a status commit and a note through
// gitstore and has the real git write the same kinds of file (a loose
// object in a new fan-out directory, a ref in a new directory, a ref's
// lock file) into the same repository: each must get the mode git gives
// it, for core.sharedRepository and the umask, so that the Gitolite user
// can still read and update what a runner run as someone else wrote.
func TestWritesUseGitsModes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shared string // git init --shared=…; "" for none
		umask  int
		// readBy is who else may read an object: the group (0o040)
		// and others (0o004).
		readBy fs.FileMode
	}{
		{"default", "", 0o022, 0o044},
		{"default umask 077 stays private", "", 0o077, 0},
		{"group", "group", 0o077, 0o040},
		{"all", "all", 0o077, 0o044},
		{"octal 0640", "0640", 0o022, 0o040},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := syscall.Umask(tc.umask)
			defer syscall.Umask(old)
			dir := t.TempDir()
			bare := filepath.Join(dir, "infra.git")
			args := []string{"init", "-q", "--bare", "-b", "main"}
			if tc.shared != "" {
				args = append(args, "--shared="+tc.shared)
			}
			git(t, dir, "", append(args, bare)...)

			r, err := gitstore.Open(bare)
			must(t, err)
			c, err := r.AppendStatus("status", map[string][]byte{"STATUS.md": []byte("ok\n")}, "run 1", time.Unix(1700000000, 0))
			must(t, err)
			must(t, r.AddNote(c, "applied", time.Unix(1700000000, 0)))

			// What git writes, for comparison.
			gitObj := freshObject(t, bare)
			git(t, bare, "", "update-ref", "refs/gitcheck/x", c.String())
			gitLock := lockModeOfGit(t, bare, c)

			ours := objectPath(bare, c)
			checks := []struct {
				what, ours string
				git        fs.FileMode
			}{
				{"loose object", ours, mode(t, gitObj)},
				{"object fan-out directory", filepath.Dir(ours), mode(t, filepath.Dir(gitObj))},
				{"ref", filepath.Join(bare, "refs/notes/runner"), mode(t, filepath.Join(bare, "refs/gitcheck/x"))},
				{"ref directory", filepath.Join(bare, "refs/notes"), mode(t, filepath.Join(bare, "refs/gitcheck"))},
				// The runner's ref file is its lock file, renamed.
				{"ref lock file", filepath.Join(bare, "refs/heads/status"), gitLock},
			}
			for _, ck := range checks {
				if got, want := mode(t, ck.ours), ck.git; got != want {
					t.Errorf("%s: runner wrote %s with mode %v, git writes %v", ck.what, ck.ours, got, want)
				}
			}
			if got := mode(t, ours) & 0o044; got != tc.readBy {
				t.Errorf("loose object mode %v: readable by group/others %v, want %v", mode(t, ours), got, tc.readBy)
			}
			// git can read everything the runner wrote.
			git(t, bare, "", "fsck", "--strict", "--no-dangling")
			if got := git(t, bare, "", "notes", "--ref=runner", "show", c.String()); got != "applied" {
				t.Errorf("git notes show = %q", got)
			}
		})
	}
}

// git runs the real git in dir with stdin and returns its trimmed output.
func git(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitrepotest.Env(dir)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func objectPath(bare string, h plumbing.Hash) string {
	return filepath.Join(bare, "objects", h.String()[:2], h.String()[2:])
}

// freshObject has git write a blob whose fan-out directory does not exist
// yet, and returns its path.
func freshObject(t *testing.T, bare string) string {
	t.Helper()
	for i := 0; ; i++ {
		content := fmt.Sprintf("git's own blob %d\n", i)
		h := git(t, bare, content, "hash-object", "--stdin")
		if _, err := os.Stat(filepath.Join(bare, "objects", h[:2])); errors.Is(err, fs.ErrNotExist) {
			git(t, bare, content, "hash-object", "-w", "--stdin")
			return objectPath(bare, plumbing.NewHash(h))
		}
	}
}

// lockModeOfGit has git lock a ref (a prepared `update-ref --stdin`
// transaction holds the lock file until its input ends) and returns the
// lock file's mode.
func lockModeOfGit(t *testing.T, bare string, h plumbing.Hash) fs.FileMode {
	t.Helper()
	cmd := exec.Command("git", "update-ref", "--stdin")
	cmd.Dir = bare
	cmd.Env = gitrepotest.Env(bare)
	in, err := cmd.StdinPipe()
	must(t, err)
	outp, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	fmt.Fprintf(in, "start\nupdate refs/heads/locked %s\nprepare\n", h)
	// git answers "start: ok", then "prepare: ok" once the lock files
	// are taken.
	br := bufio.NewReader(outp)
	for _, want := range []string{"start: ok", "prepare: ok"} {
		line, err := br.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != want {
			t.Fatalf("git update-ref --stdin: %q, %v; want %q", line, err, want)
		}
	}
	lock := filepath.Join(bare, "refs/heads/locked.lock")
	m := mode(t, lock)
	fmt.Fprint(in, "abort\n")
	_ = in.Close()
	must(t, cmd.Wait())
	return m
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	must(t, err)
	return fi.Mode()
}

// TestOpenBadSharedRepository: a core.sharedRepository git itself refuses
// is an error naming the config file, before anything is written.
func TestOpenBadSharedRepository(t *testing.T) {
	for _, v := range []string{"0440", "sometimes"} {
		dir := t.TempDir()
		git(t, dir, "", "init", "-q", "--bare", "r.git")
		git(t, dir, "", "--git-dir=r.git", "config", "core.sharedRepository", v)
		_, err := gitstore.Open(filepath.Join(dir, "r.git"))
		if err == nil || !strings.Contains(err.Error(), "core.sharedRepository") || !strings.Contains(err.Error(), filepath.Join("r.git", "config")) {
			t.Errorf("core.sharedRepository=%s: Open error = %v, want one naming the setting and the config file", v, err)
		}
	}
}
