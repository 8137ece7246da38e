package gitolitetest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const zeroSHA = "0000000000000000000000000000000000000000"

// mustGit runs git as user and fails the test if it fails.
func mustGit(tb testing.TB, s *Server, dir, user string, args ...string) string {
	tb.Helper()
	out, err := s.Git(tb, dir, user, args...)
	if err != nil {
		tb.Fatalf("%v\n%s", err, out)
	}
	return out
}

// cloneAndCommit clones repo as user into a new directory and commits one
// file; it returns the clone and the commit's id.
func cloneAndCommit(tb testing.TB, s *Server, repo, user, subject string) (string, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), repo)
	mustGit(tb, s, "", user, "clone", "-q", s.URL(repo), dir)
	return dir, commit(tb, s, dir, user, subject)
}

// commit writes a file in dir and commits it with the given subject.
func commit(tb testing.TB, s *Server, dir, user, subject string) string {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, "file.txt"), []byte(subject+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	mustGit(tb, s, dir, user, "add", "file.txt")
	mustGit(tb, s, dir, user, "commit", "-q", "-m", subject)
	return strings.TrimSpace(mustGit(tb, s, dir, user, "rev-parse", "HEAD"))
}

// serverRef returns the id a ref has in the bare repository on the server's
// disk, or "" if the ref does not exist.
func serverRef(tb testing.TB, s *Server, repo, ref string) string {
	tb.Helper()
	out, err := s.Git(tb, "", "admin", "--git-dir", s.RepoPath(repo), "rev-parse", "--verify", "-q", ref)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

func TestCloneCommitPush(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.AddUser(t, "alice")
	s.AddRepo(t, "plain", "RW+ = admin", "R = alice")

	dir, id := cloneAndCommit(t, s, "plain", "admin", "first")
	mustGit(t, s, dir, "admin", "push", "-q", "origin", "main")
	if got := serverRef(t, s, "plain", "refs/heads/main"); got != id {
		t.Errorf("server refs/heads/main = %q, want %q", got, id)
	}

	// alice may read: her clone has the commit; she may not write.
	aliceDir := filepath.Join(t.TempDir(), "alice")
	mustGit(t, s, "", "alice", "clone", "-q", s.URL("plain"), aliceDir)
	if got := strings.TrimSpace(mustGit(t, s, aliceDir, "alice", "rev-parse", "HEAD")); got != id {
		t.Errorf("alice's clone HEAD = %q, want %q", got, id)
	}
	commit(t, s, aliceDir, "alice", "by alice")
	out, err := s.Git(t, aliceDir, "alice", "push", "origin", "main")
	if err == nil {
		t.Fatalf("push by read-only alice succeeded:\n%s", out)
	}
	if want := "FATAL: W any plain alice DENIED by fallthru"; !strings.Contains(out, want) {
		t.Errorf("push output lacks %q:\n%s", want, out)
	}
	if got := serverRef(t, s, "plain", "refs/heads/main"); got != id {
		t.Errorf("after denied push, server refs/heads/main = %q, want %q", got, id)
	}
}

func TestPostReceiveHook(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.AddUser(t, "alice")
	// What an operator places for the hook: a program and its config.
	greet := s.WriteHostFile(t, "bin/greet", []byte("#!/bin/sh\nread -r word < \"$1\"\necho \"post-receive: $word from $0\"\n"), 0o755)
	s.WriteHostFile(t, "etc/greet.conf", []byte("configured\n"), 0o600)
	s.InstallHook(t, "record", []byte(`#!/bin/sh
log="$HOME/post-receive-$GL_REPO.log"
while read old new ref; do
	echo "line $old $new $ref" >> "$log"
done
echo "env GL_USER=$GL_USER GL_REPO=$GL_REPO" >> "$log"
echo "post-receive: hello $GL_USER, $GL_REPO got the push"
echo "post-receive: on stderr" >&2
"$HOME/bin/greet" "$HOME/etc/greet.conf"
`))
	s.AddRepo(t, "infra", "RW+ = alice", "option hook.post-receive = record")

	dir, first := cloneAndCommit(t, s, "infra", "alice", "first")
	out1 := mustGit(t, s, dir, "alice", "push", "origin", "main")
	second := commit(t, s, dir, "alice", "second")
	out2 := mustGit(t, s, dir, "alice", "push", "origin", "main")

	for i, out := range []string{out1, out2} {
		for _, want := range []string{
			"remote: post-receive: hello alice, infra got the push",
			"remote: post-receive: on stderr",
			"remote: post-receive: configured from " + greet,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("push %d output lacks %q:\n%s", i+1, want, out)
			}
		}
	}
	got, err := os.ReadFile(filepath.Join(s.Home(), "post-receive-infra.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("line %s %s refs/heads/main\nenv GL_USER=alice GL_REPO=infra\n"+
		"line %s %s refs/heads/main\nenv GL_USER=alice GL_REPO=infra\n", zeroSHA, first, first, second)
	if string(got) != want {
		t.Errorf("hook record:\n%s\nwant:\n%s", got, want)
	}
}

func TestPreReceiveRejects(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	// Prints what runner check needs to know about quarantine, then reads
	// each pushed commit (only reachable through the quarantine) and
	// rejects subjects containing REJECT.
	s.InstallHook(t, "gate", []byte(`#!/bin/sh
echo "quarantine GIT_DIR=$GIT_DIR PWD=$PWD"
echo "quarantine GIT_OBJECT_DIRECTORY=$GIT_OBJECT_DIRECTORY"
echo "quarantine GIT_ALTERNATE_OBJECT_DIRECTORIES=$GIT_ALTERNATE_OBJECT_DIRECTORIES"
echo "quarantine GIT_QUARANTINE_PATH=$GIT_QUARANTINE_PATH"
while read old new ref; do
	if env -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES -u GIT_QUARANTINE_PATH \
		git cat-file -e "$new" 2>/dev/null; then
		echo "quarantine visible-without-env=yes"
	else
		echo "quarantine visible-without-env=no"
	fi
	echo "quarantine ref-before=$(git rev-parse -q --verify "$ref")"
	echo "quarantine loose-objects=$(find "$GIT_QUARANTINE_PATH" -type f -path '*/[0-9a-f][0-9a-f]/*' | wc -l)"
	subject=$(git log -1 --format=%s "$new") || exit 1
	case "$subject" in
	*REJECT*) echo "pre-receive: rejecting $ref: $subject" >&2; exit 1 ;;
	esac
done
`))
	s.AddRepo(t, "gated", "RW+ = admin", "option hook.pre-receive = gate")

	dir, good := cloneAndCommit(t, s, "gated", "admin", "good")
	out := mustGit(t, s, dir, "admin", "push", "origin", "main")
	t.Logf("accepted push:\n%s", out)
	// Observed with git 2.39: absolute paths spelled through GIT_DIR=".",
	// e.g. <repo>/./objects/tmp_objdir-incoming-Sbv8p8.
	q := quarantineVars(out)
	objects := filepath.Join(s.RepoPath("gated"), "objects")
	quarantine := filepath.Clean(q["GIT_QUARANTINE_PATH"])
	if filepath.Dir(quarantine) != objects || !strings.HasPrefix(filepath.Base(quarantine), "tmp_objdir-incoming-") {
		t.Errorf("GIT_QUARANTINE_PATH = %q, want %s/tmp_objdir-incoming-*", q["GIT_QUARANTINE_PATH"], objects)
	}
	if q["GIT_OBJECT_DIRECTORY"] != q["GIT_QUARANTINE_PATH"] {
		t.Errorf("GIT_OBJECT_DIRECTORY = %q, want GIT_QUARANTINE_PATH %q", q["GIT_OBJECT_DIRECTORY"], q["GIT_QUARANTINE_PATH"])
	}
	if got := filepath.Clean(q["GIT_ALTERNATE_OBJECT_DIRECTORIES"]); got != objects {
		t.Errorf("GIT_ALTERNATE_OBJECT_DIRECTORIES = %q, want %q", q["GIT_ALTERNATE_OBJECT_DIRECTORIES"], objects)
	}
	// The pushed objects exist only in the quarantine: a reader that
	// ignores these variables (go-git does) cannot see the new commit.
	// A small push is unpacked there as loose objects (commit, tree, blob);
	// pushes of receive.unpackLimit (100) objects or more stay a pack.
	if q["visible-without-env"] != "no" || q["loose-objects"] != "3" {
		t.Errorf("visible-without-env = %q, loose-objects = %q; want \"no\" and \"3\"", q["visible-without-env"], q["loose-objects"])
	}
	if q["GIT_DIR"] != "." || q["PWD"] != s.RepoPath("gated") {
		t.Errorf("GIT_DIR = %q, PWD = %q; want \".\" and %q", q["GIT_DIR"], q["PWD"], s.RepoPath("gated"))
	}
	if got := serverRef(t, s, "gated", "refs/heads/main"); got != good {
		t.Fatalf("server refs/heads/main = %q, want %q", got, good)
	}

	bad := commit(t, s, dir, "admin", "please REJECT me")
	out, err := s.Git(t, dir, "admin", "push", "origin", "main")
	if err == nil {
		t.Fatalf("push of a rejected commit succeeded:\n%s", out)
	}
	for _, want := range []string{
		"remote: pre-receive: rejecting refs/heads/main: please REJECT me",
		"! [remote rejected] main -> main (pre-receive hook declined)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rejected push output lacks %q:\n%s", want, out)
		}
	}
	// While pre-receive runs, the ref still has its old value.
	if got := quarantineVars(out)["ref-before"]; got != good {
		t.Errorf("pre-receive saw refs/heads/main = %q, want the old %q", got, good)
	}
	if got := serverRef(t, s, "gated", "refs/heads/main"); got != good {
		t.Errorf("after rejected push, server refs/heads/main = %q, want %q", got, good)
	}
	// The quarantine is discarded: the rejected commit never reaches the
	// repository's object store.
	if out, err := s.Git(t, "", "admin", "--git-dir", s.RepoPath("gated"), "cat-file", "-e", bad); err == nil {
		t.Errorf("rejected commit %s is in the repository:\n%s", bad, out)
	}
	left, err := filepath.Glob(filepath.Join(objects, "tmp_objdir-incoming-*"))
	if err != nil || len(left) != 0 {
		t.Errorf("quarantine directories left behind: %v (%v)", left, err)
	}
}

// quarantineVars parses the "quarantine K=V" lines the gate hook prints.
func quarantineVars(out string) map[string]string {
	vars := map[string]string{}
	for line := range strings.Lines(out) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "remote: quarantine ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				vars[k] = v
			}
		}
	}
	return vars
}

func TestDenyStatusRef(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.AddUser(t, "bob")
	// The rule hooks/README.md documents: nobody pushes the status branch;
	// only the hook writes it (with git update-ref, which bypasses Gitolite).
	s.AddRepo(t, "infra", "- refs/heads/status = @all", "RW+ = admin bob")

	dir, id := cloneAndCommit(t, s, "infra", "bob", "first")
	mustGit(t, s, dir, "bob", "push", "origin", "main")

	out, err := s.Git(t, dir, "bob", "push", "origin", "HEAD:refs/heads/status")
	if err == nil {
		t.Fatalf("push to refs/heads/status succeeded:\n%s", out)
	}
	if want := "FATAL: W refs/heads/status infra bob DENIED by refs/heads/status"; !strings.Contains(out, want) {
		t.Errorf("push output lacks %q:\n%s", want, out)
	}
	if got := serverRef(t, s, "infra", "refs/heads/status"); got != "" {
		t.Errorf("refs/heads/status exists after denied push: %s", got)
	}
	if got := serverRef(t, s, "infra", "refs/heads/main"); got != id {
		t.Errorf("refs/heads/main = %q, want %q", got, id)
	}
}

func TestPushOptions(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.InstallHook(t, "opts", []byte(`#!/bin/sh
cat >/dev/null
echo "push options: count=$GIT_PUSH_OPTION_COUNT 0=$GIT_PUSH_OPTION_0 1=$GIT_PUSH_OPTION_1"
`))
	tests := []struct {
		repo    string
		conf    []string
		wantErr bool
		want    string
	}{
		{
			repo: "advertised",
			conf: []string{"RW+ = admin", "option hook.post-receive = opts",
				"config receive.advertisePushOptions = true"},
			want: "remote: push options: count=2 0=foo 1=dry-run=yes",
		},
		{
			// Without the config line git refuses -o before pushing.
			repo:    "plain",
			conf:    []string{"RW+ = admin", "option hook.post-receive = opts"},
			wantErr: true,
			want:    "fatal: the receiving end does not support push options",
		},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			s.AddRepo(t, tt.repo, tt.conf...)
			dir, id := cloneAndCommit(t, s, tt.repo, "admin", "first")
			out, err := s.Git(t, dir, "admin", "push", "-o", "foo", "-o", "dry-run=yes", "origin", "main")
			if (err != nil) != tt.wantErr {
				t.Fatalf("push err = %v, want error %v:\n%s", err, tt.wantErr, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("push output lacks %q:\n%s", tt.want, out)
			}
			wantRef := id
			if tt.wantErr {
				wantRef = ""
			}
			if got := serverRef(t, s, tt.repo, "refs/heads/main"); got != wantRef {
				t.Errorf("server refs/heads/main = %q, want %q", got, wantRef)
			}
		})
	}
}

// TestCleanup checks that a Server leaves nothing behind: sshd stopped, the
// hosting user deleted (when root), the directory removed.
func TestCleanup(t *testing.T) {
	t.Parallel()
	var s *Server
	t.Run("server", func(t *testing.T) {
		s = Start(t, Options{Env: []string{"GITOLITETEST_MARK=set by Options.Env"}})
		// AddRepo before InstallHook: InstallHook must link the hook.
		s.AddRepo(t, "r", "RW+ = admin", "option hook.post-receive = env")
		s.InstallHook(t, "env", []byte("#!/bin/sh\ncat >/dev/null\necho \"mark=$GITOLITETEST_MARK\"\n"))
		dir, _ := cloneAndCommit(t, s, "r", "admin", "first")
		out := mustGit(t, s, dir, "admin", "push", "origin", "main")
		if want := "remote: mark=set by Options.Env"; !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	})
	if s == nil {
		t.Fatal("Start did not return")
	}
	if _, err := os.Stat(s.root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists (err %v)", s.root, err)
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port())); err == nil {
		_ = c.Close()
		t.Errorf("port %d still accepts connections", s.Port())
	}
	if s.host.dedicated {
		if _, err := user.Lookup(s.HostUser()); err == nil {
			t.Errorf("hosting user %s still exists", s.HostUser())
		}
	}
}

// fatalTB records Fatalf instead of failing the real test, to test the
// harness's own failure checks.
type fatalTB struct {
	testing.TB
	fatal string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// callFatal runs fn with a fatalTB in its own goroutine (Goexit ends only
// that goroutine) and returns the Fatalf message, or "".
func callFatal(t *testing.T, fn func(tb testing.TB)) string {
	ftb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ftb)
	}()
	<-done
	return ftb.fatal
}

func TestAddRepoRejectsBadConfig(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	tests := []struct {
		name string
		conf []string
		want string
	}{
		{"syntax error", []string{"RW+ admin"}, "WARNING: syntax error, ignoring: 'RW+ admin'"},
		{"config key not allowed", []string{"RW+ = admin", "config core.bare = false"},
			"FATAL: git config 'core.bare' not allowed"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := callFatal(t, func(tb testing.TB) { s.AddRepo(tb, fmt.Sprintf("bad%d", i), tt.conf...) })
			if !strings.Contains(msg, tt.want) {
				t.Errorf("AddRepo failure = %q, want it to contain %q", msg, tt.want)
			}
		})
	}
	// The server still works after the rejected configs.
	s.AddRepo(t, "good", "RW+ = admin")
	if _, err := os.Stat(s.RepoPath("good")); err != nil {
		t.Error(err)
	}
}

func TestFindPrograms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		installed map[string]bool
		root      bool
		wantMsg   string
	}{
		{
			name: "all there",
			installed: map[string]bool{"gitolite": true, "/usr/sbin/sshd": true, "ssh": true,
				"ssh-keygen": true, "git": true},
		},
		{
			name:      "nothing",
			installed: map[string]bool{},
			root:      true,
			wantMsg: "gitolitetest: gitolite, sshd, ssh, ssh-keygen, git, useradd, userdel not installed; " +
				"install the Debian packages: apt-get install -y gitolite3 openssh-server openssh-client git passwd",
		},
		{
			name:      "no gitolite",
			installed: map[string]bool{"sshd": true, "ssh": true, "ssh-keygen": true, "git": true},
			wantMsg: "gitolitetest: gitolite not installed; " +
				"install the Debian packages: apt-get install -y gitolite3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookPath := func(p string) (string, error) {
				if tt.installed[p] {
					return "/x/" + filepath.Base(p), nil
				}
				return "", errors.New("not found")
			}
			paths, msg := findPrograms(components(tt.root), lookPath)
			if msg != tt.wantMsg {
				t.Errorf("message = %q, want %q", msg, tt.wantMsg)
			}
			if tt.wantMsg == "" && paths["sshd"] != "/x/sshd" {
				t.Errorf("sshd path = %q, want the /usr/sbin fallback", paths["sshd"])
			}
		})
	}
}

// BenchmarkPush measures one push (commit excluded) to a repo with a no-op
// post-receive hook: the harness's per-push overhead (ssh handshake,
// gitolite-shell, receive-pack, hook driver).
func BenchmarkPush(b *testing.B) {
	s := Start(b, Options{})
	s.InstallHook(b, "noop", []byte("#!/bin/sh\ncat >/dev/null\n"))
	s.AddRepo(b, "bench", "RW+ = admin", "option hook.post-receive = noop")
	dir, _ := cloneAndCommit(b, s, "bench", "admin", "first")
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		commit(b, s, dir, "admin", fmt.Sprintf("commit %d", i))
		b.StartTimer()
		mustGit(b, s, dir, "admin", "push", "-q", "origin", "main")
	}
}

func TestValidEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env     []string
		wantErr bool
	}{
		{env: nil},
		{env: []string{"A=b c", "B="}},
		{env: []string{"NOVALUE"}, wantErr: true},
		{env: []string{"=x"}, wantErr: true},
		{env: []string{`A="quoted"`}, wantErr: true},
		{env: []string{"A=line\nbreak"}, wantErr: true},
		{env: []string{"HOME=/elsewhere"}, wantErr: true},
	}
	for _, tt := range tests {
		if err := validEnv(tt.env); (err != nil) != tt.wantErr {
			t.Errorf("validEnv(%q) = %v, want error %v", tt.env, err, tt.wantErr)
		}
	}
}

// BenchmarkStart measures Start (user, keys, gitolite setup, sshd, admin
// clone); run it with -benchtime=5x, every server lives until the end.
func BenchmarkStart(b *testing.B) {
	for range b.N {
		Start(b, Options{})
	}
}
