//go:build debinstall

// Package packaging_test installs the gitops-runner Debian package on this
// machine and follows the README's install section literally: Debian's
// gitolite3 set up with dpkg-reconfigure, the package installed with
// dpkg -i, the three documented edits, then pushes over ssh to a real sshd
// as a Gitolite user, with the runner running as the hosting user gitolite3.
// It changes the system (a package, the gitolite3 user, /var/lib/gitolite3),
// so it is built only with -tags debinstall, runs only as root with CI=true
// or GITOPS_RUNNER_DEB_E2E=1, and purges what it installed at the end.
//
//	go test -tags debinstall -count=1 ./packaging/   # what .ci/run runs
package packaging_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/daemontest"
	r53sim "github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

const (
	hostUser  = "gitolite3"
	hostHome  = "/var/lib/gitolite3"
	rcFile    = "/etc/gitolite3/gitolite.rc"
	configDir = "/etc/gitops-runner"
	// marker says that this test set up gitolite3 (so a later run may
	// remove a set-up a crashed run left behind, and never a real one).
	marker = "/etc/gitolite3/.gitops-runner-deb-e2e"
	zone   = "mydomain.com"
)

// machine runs commands on this machine for the test.
type machine struct {
	t   *testing.T
	dir string // the test's temp dir: keys, client HOMEs, sshd config
}

func (m *machine) run(env []string, name string, args ...string) (string, error) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), err
}

func (m *machine) must(env []string, name string, args ...string) string {
	m.t.Helper()
	out, err := m.run(env, name, args...)
	if err != nil {
		m.t.Fatal(err)
	}
	return out
}

// asHost runs a shell command as the hosting user, as an operator does with
// runuser (HOME is the user's; PATH stays root's).
func (m *machine) asHost(script string) (string, error) {
	m.t.Helper()
	return m.run(nil, "runuser", "-u", hostUser, "--", "sh", "-c", script)
}

// cleanEnv is the environment without variables that would steer git, the
// runner or Go's test binary.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "RUNNER_") || strings.HasPrefix(kv, "SSH_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func requireMachine(t *testing.T) {
	t.Helper()
	ci := os.Getenv("CI") == "true"
	var missing []string
	for _, p := range []string{"dpkg", "dpkg-reconfigure", "debconf-set-selections", "gitolite", "git", "ssh", "ssh-keygen", "runuser", "make", "go"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		missing = append(missing, "sshd")
	}
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "it installs a Debian package: run it as root"
	case len(missing) > 0:
		why = "missing: " + strings.Join(missing, ", ") + " (apt-get install gitolite3 openssh-server git make)"
	case !ci && os.Getenv("GITOPS_RUNNER_DEB_E2E") != "1":
		why = "it changes this machine (installs gitops-runner, sets up gitolite3): set CI=true or GITOPS_RUNNER_DEB_E2E=1"
	}
	if why == "" {
		return
	}
	if ci {
		t.Fatalf("%s (CI=true: not skipping)", why)
	}
	t.Skip(why)
}

// lockMachine serialises runs of this test on one machine: they share the
// gitolite3 user and the installed package.
func lockMachine(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/run/lock/gitops-runner-deb-e2e.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
}

func TestDebInstall(t *testing.T) {
	requireMachine(t)
	lockMachine(t)
	m := &machine{t: t, dir: t.TempDir()}
	if err := os.Chmod(m.dir, 0o755); err != nil { // the hosting user reads the admin key from here
		t.Fatal(err)
	}
	preflight(t, m)
	// A state directory left by runs outside the package (root's default
	// stateDir) is kept aside and put back: the purge removes the package's.
	const state, aside = "/var/lib/gitops-runner", "/var/lib/gitops-runner.deb-e2e-aside"
	if _, err := os.Stat(state); err == nil {
		if err := os.Rename(state, aside); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := os.Rename(aside, state); err != nil {
				t.Errorf("put back %s: %v", state, err)
			}
		})
	}
	t.Cleanup(func() { teardown(t, m) })

	// Build the package as the README says: make deb.
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := m.must(nil, "make", "-C", root, "deb")
	debs, _ := filepath.Glob(filepath.Join(root, "build", "gitops-runner_*.deb"))
	if len(debs) == 0 {
		t.Fatalf("make deb wrote no build/gitops-runner_*.deb:\n%s", out)
	}
	deb := newest(debs)
	info := m.must(nil, "dpkg-deb", "--info", deb)
	for _, want := range []string{"Depends: gitolite3, git", "Package: gitops-runner"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info: no %q in\n%s", want, info)
		}
	}

	// README, Install, 1: Gitolite, as Debian sets it up: the admin key.
	admin := m.newClient("admin")
	m.must(nil, "sh", "-c", fmt.Sprintf("echo 'gitolite3 gitolite3/adminkey string %s' | debconf-set-selections", admin.pub))
	m.must([]string{"DEBIAN_FRONTEND=noninteractive"}, "dpkg-reconfigure", "-f", "noninteractive", "gitolite3")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(hostHome, ".gitolite.rc")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("Debian's gitolite3: ~/.gitolite.rc is not a symlink to %s (%v): hooks/README.md is wrong", rcFile, err)
	}

	// README, Install, 2: the package.
	out = m.must(nil, "dpkg", "-i", deb)
	t.Logf("dpkg -i:\n%s", out)
	if st := ownerOf(t, "/var/lib/gitops-runner"); st != hostUser {
		t.Errorf("/var/lib/gitops-runner belongs to %s, want %s", st, hostUser)
	}
	for _, f := range []string{"/usr/bin/runner", "/usr/share/gitops-runner/hooks/pre-receive", "/usr/share/gitops-runner/hooks/post-receive", "/usr/lib/systemd/system/runner-serve.service", "/etc/gitops-runner/runner.jsonnet"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("package: %v", err)
		}
	}
	if out := m.must(nil, "dpkg-query", "-W", "-f", "${Conffiles}", "gitops-runner"); !strings.Contains(out, "/etc/gitops-runner/runner.jsonnet") {
		t.Errorf("runner.jsonnet is not a conffile: %q", out)
	}
	// Before the edits, doctor says what is missing and fails.
	if out, err := m.asHost("runner doctor --offline"); err == nil || !strings.Contains(out, "FAIL  repo: the configuration lists no repos") {
		t.Errorf("runner doctor before the edits: want a FAIL for the missing repo, got err=%v\n%s", err, out)
	}

	// Edit 1: the rc file (root's: ~/.gitolite.rc links to it) and the hooks.
	rc, err := os.ReadFile(rcFile)
	if err != nil {
		t.Fatal(err)
	}
	rcText := string(rc)
	for _, r := range []struct{ old, new string }{
		{`# LOCAL_CODE                =>  "$ENV{HOME}/local",`, `LOCAL_CODE                =>  "$ENV{HOME}/local",`},
		{`# 'repo-specific-hooks',`, `'repo-specific-hooks',`},
		{`GIT_CONFIG_KEYS                 =>  '',`, `GIT_CONFIG_KEYS                 =>  'receive\.advertisePushOptions',`},
	} {
		if !strings.Contains(rcText, r.old) {
			t.Fatalf("%s has no line %q: hooks/README.md's edit 1 no longer matches Debian's rc", rcFile, r.old)
		}
		rcText = strings.Replace(rcText, r.old, r.new, 1)
	}
	if err := os.WriteFile(rcFile, []byte(rcText), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := m.asHost(readmeBlock(t, "install-hooks")); err != nil {
		t.Fatalf("installing the hooks as README says: %v\n%s", err, out)
	}

	// sshd on a loopback port, as root, like the system's: it logs in
	// gitolite3, whose authorized_keys Gitolite manages.
	port := m.startSSHD()

	// Edit 2: gitolite-admin: the repo with the hooks, and a user alice.
	alice := m.newClient("alice")
	adminClone := filepath.Join(m.dir, "gitolite-admin")
	admin.git(m, port, "", "clone", "-q", admin.url(port, "gitolite-admin"), adminClone)
	conf := readmeBlock(t, "gitolite-conf")
	f, err := os.OpenFile(filepath.Join(adminClone, "conf", "gitolite.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("\n" + conf)
	_ = f.Close()
	if err := os.WriteFile(filepath.Join(adminClone, "keydir", "alice.pub"), []byte(alice.pubLine), 0o644); err != nil {
		t.Fatal(err)
	}
	admin.git(m, port, adminClone, "add", "-A")
	admin.git(m, port, adminClone, "commit", "-q", "-m", "infra, alice")
	out = admin.git(m, port, adminClone, "push", "-q", "origin", "master")
	if strings.Contains(out, "WARNING") || strings.Contains(out, "FATAL") {
		t.Fatalf("gitolite-admin push:\n%s", out)
	}

	// The backends: the Route 53 simulator on loopback, its keys in files
	// only gitolite3 (and root) can read, as the README says.
	sim := r53sim.New(r53sim.Options{})
	t.Cleanup(func() { _ = sim.Close() })
	zoneID, err := sim.CreateZone(zone)
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := sim.ListenHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"aws-key-id": r53sim.DefaultAccessKeyID, "aws-secret": r53sim.DefaultSecretAccessKey} {
		p := filepath.Join(configDir, name)
		m.must(nil, "sh", "-c", fmt.Sprintf("printf %%s '%s' | install -m 0640 -o root -g %s /dev/stdin %s", v, hostUser, p))
	}

	// Edit 3: the runner configuration.
	cfg := fmt.Sprintf(`{
  repos: [{ path: '/var/lib/gitolite3/repositories/infra.git' }],
  stateDir: '/var/lib/gitops-runner',
  policy: { zones: ['%[1]s'] },
  backends: {
    route53: {
      endpoint: '%[2]s',
      accessKeyId: { file: '/etc/gitops-runner/aws-key-id' },
      secretAccessKey: { file: '/etc/gitops-runner/aws-secret' },
      zones: ['%[1]s'],
      pollInterval: '100ms',
    },
  },
}
`, zone, endpoint)
	if err := os.WriteFile(filepath.Join(configDir, "runner.jsonnet"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// Done: runner doctor, as the hosting user, passes every check.
	out, err = m.asHost("runner doctor")
	t.Logf("runner doctor:\n%s", out)
	if err != nil {
		t.Errorf("runner doctor as %s failed: %v", hostUser, err)
	}
	for _, want := range []string{"OK    config: /etc/gitops-runner/runner.jsonnet (from the default path)", "OK    hooks infra:", "OK    push options infra:", "OK    backend route53: GetHostedZone mydomain.com", "OK    clock route53:", "OK    user infra: runs as gitolite3"} {
		if !strings.Contains(out, want) {
			t.Errorf("runner doctor: no %q", want)
		}
	}
	// As root it says who should run it.
	if out, err := m.run(nil, "runner", "doctor", "--offline"); err == nil || !strings.Contains(out, "FAIL  user infra: runs as root") {
		t.Errorf("runner doctor as root: want FAIL for the user, got err=%v\n%s", err, out)
	}

	// alice pushes over ssh: checked, queued, deployed while she watches,
	// recorded.
	work := filepath.Join(m.dir, "infra")
	alice.git(m, port, "", "clone", "-q", alice.url(port, "infra"), work)
	writeInfra(t, work, map[string]string{"blog": "203.0.113.10"})
	alice.git(m, port, work, "add", "-A")
	alice.git(m, port, work, "commit", "-q", "-m", "blog")
	out = alice.git(m, port, work, "push", "origin", "HEAD:main")
	t.Logf("first push:\n%s", out)
	for _, re := range []string{
		`remote: runner: [0-9a-f]{7} checked: 1 resources`,
		`remote: runner: queued deploy of [0-9a-f]{7} as job`,
		`remote: runner: route53.record/A-blog.mydomain.com \(create\): started`,
		`remote: runner: deploy [0-9a-f]{7}: ok, 1 changed`,
		`remote: ==> status recorded on branch status: git fetch origin status && git show origin/status:STATUS.md`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("first push: no match for %s", re)
		}
	}
	if !hasRecord(t, sim, zoneID, "blog.mydomain.com.") {
		t.Errorf("the Route 53 simulator has no record blog.mydomain.com after the push")
	}
	// The hint the push printed works in the clone.
	alice.git(m, port, work, "fetch", "-q", "origin", "status")
	if st := alice.git(m, port, work, "show", "origin/status:STATUS.md"); !strings.Contains(st, "ok, 1 changed") {
		t.Errorf("origin/status:STATUS.md:\n%s", st)
	}
	first := strings.TrimSpace(alice.git(m, port, work, "rev-parse", "HEAD"))

	// The status branch is the runner's: the pre-receive hook refuses it.
	if out, err := alice.run(m, port, work, "push", "origin", "+HEAD:refs/heads/status"); err == nil || !strings.Contains(out, "remote: runner: refs/heads/status is written by the runner only; push rejected") {
		t.Errorf("push to status: want the runner's refusal, got err=%v\n%s", err, out)
	}

	// A second change, then a replay of the first commit: refused as root,
	// done as the hosting user.
	writeInfra(t, work, map[string]string{"blog": "203.0.113.20"})
	alice.git(m, port, work, "commit", "-q", "-am", "blog moves")
	out = alice.git(m, port, work, "push", "origin", "HEAD:main")
	if !strings.Contains(out, "ok, 1 changed") {
		t.Errorf("second push:\n%s", out)
	}
	repo := "/var/lib/gitolite3/repositories/infra.git"
	if out, err := m.run(nil, "runner", "replay", "--repo", repo, first); err == nil {
		t.Errorf("runner replay as root was not refused (it would leave root-owned files in %s):\n%s", repo, out)
	} else if !strings.Contains(out, "--allow-other-user") {
		t.Errorf("runner replay as root: refused, but without naming --allow-other-user:\n%s", out)
	}
	out, err = m.asHost("runner replay --repo " + repo + " " + first)
	if err != nil {
		t.Errorf("runner replay as %s: %v", hostUser, err)
	}
	if !strings.Contains(out, "replay of") || !strings.Contains(out, "recorded: status") {
		t.Errorf("runner replay as %s:\n%s", hostUser, out)
	}

	// A later push still works (nothing root-owned was left behind).
	writeInfra(t, work, map[string]string{"blog": "203.0.113.30", "www": "203.0.113.30"})
	alice.git(m, port, work, "add", "-A")
	alice.git(m, port, work, "commit", "-q", "-m", "www")
	out = alice.git(m, port, work, "push", "origin", "HEAD:main")
	if !regexp.MustCompile(`remote: runner: deploy [0-9a-f]{7}: ok, 2 changed`).MatchString(out) {
		t.Errorf("last push:\n%s", out)
	}
	if out, err := m.run(nil, "find", hostHome, "/var/lib/gitops-runner", "-not", "-user", hostUser, "-not", "-path", hostHome+"/.gitolite.rc"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("files not owned by %s (err %v):\n%s", hostUser, err, out)
	}
}

// preflight refuses to touch a Gitolite this test did not set up.
func preflight(t *testing.T, m *machine) {
	t.Helper()
	_, userErr := m.run(nil, "getent", "passwd", hostUser)
	_, rcErr := os.Stat(rcFile)
	if userErr != nil && rcErr != nil {
		return
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("this machine already has a %s user or %s that this test did not create: refusing to change it", hostUser, rcFile)
	}
	teardown(t, m) // a crashed run's leftovers
}

// teardown purges the package and undoes the gitolite3 set-up (the
// gitolite3 package itself stays installed).
func teardown(t *testing.T, m *machine) {
	t.Helper()
	if out, err := m.run(nil, "dpkg", "--purge", "gitops-runner"); err != nil {
		t.Errorf("dpkg --purge gitops-runner: %v\n%s", err, out)
	}
	_, _ = m.run(nil, "pkill", "-KILL", "-u", hostUser) // detached workers
	for range 50 {
		if _, err := m.run(nil, "pgrep", "-u", hostUser); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := m.run(nil, "getent", "passwd", hostUser); err == nil {
		if out, err := m.run(nil, "userdel", hostUser); err != nil {
			t.Errorf("userdel: %v\n%s", err, out)
		}
	}
	_, _ = m.run(nil, "groupdel", hostUser)
	for _, p := range []string{hostHome, rcFile, marker, configDir} {
		if err := os.RemoveAll(p); err != nil {
			t.Errorf("teardown: %v", err)
		}
	}
	_, _ = m.run(nil, "sh", "-c", "echo 'gitolite3 gitolite3/adminkey string' | debconf-set-selections")
}

// client is a Gitolite user on the client side: an ssh key and a HOME.
type client struct {
	name, key, pub, pubLine, home string
}

func (m *machine) newClient(name string) *client {
	m.t.Helper()
	dir := filepath.Join(m.dir, "users", name)
	c := &client{name: name, key: filepath.Join(dir, "id_ed25519"), home: filepath.Join(dir, "home")}
	c.pub = c.key + ".pub"
	if err := os.MkdirAll(c.home, 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		m.t.Fatal(err)
	}
	m.must(nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", c.key)
	b, err := os.ReadFile(c.pub)
	if err != nil {
		m.t.Fatal(err)
	}
	c.pubLine = string(b)
	gitconfig := fmt.Sprintf("[user]\n\tname = %s\n\temail = %s@example.test\n[init]\n\tdefaultBranch = main\n", name, name)
	if err := os.WriteFile(filepath.Join(c.home, ".gitconfig"), []byte(gitconfig), 0o644); err != nil {
		m.t.Fatal(err)
	}
	return c
}

func (c *client) url(port int, repo string) string {
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d/%s", hostUser, port, repo)
}

func (c *client) env(m *machine, port int) []string {
	ssh := fmt.Sprintf("ssh -F /dev/null -i %s -p %d -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s",
		c.key, port, filepath.Join(m.dir, "known_hosts"))
	return []string{"HOME=" + c.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_SSH_COMMAND=" + ssh, "LC_ALL=C"}
}

func (c *client) run(m *machine, port int, dir string, args ...string) (string, error) {
	m.t.Helper()
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	return m.run(c.env(m, port), "git", args...)
}

func (c *client) git(m *machine, port int, dir string, args ...string) string {
	m.t.Helper()
	out, err := c.run(m, port, dir, args...)
	if err != nil {
		m.t.Fatal(err)
	}
	return out
}

// startSSHD runs /usr/sbin/sshd as root on a free loopback port with its
// own host key, allowing only public-key logins of the hosting user, and
// stops it at cleanup. It returns the port. UsePAM yes, as in Debian's
// sshd_config: without PAM, sshd refuses gitolite3 because its password is
// locked ("account is locked").
func (m *machine) startSSHD() int {
	m.t.Helper()
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // sshd's privilege separation directory
		m.t.Fatal(err)
	}
	dir := filepath.Join(m.dir, "sshd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		m.t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	m.must(nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey)
	port := daemontest.FreePort(m.t)
	conf := filepath.Join(dir, "sshd_config")
	text := fmt.Sprintf("ListenAddress 127.0.0.1:%d\nHostKey %s\nPidFile none\nAllowUsers %s\nAuthenticationMethods publickey\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM yes\nPermitRootLogin no\nLogLevel VERBOSE\n", port, hostKey, hostUser)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		m.t.Fatal(err)
	}
	logPath := filepath.Join(dir, "sshd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		m.t.Fatal(err)
	}
	// Registered first, so it runs after daemontest has stopped sshd.
	m.t.Cleanup(func() {
		_ = logf.Close()
		if m.t.Failed() {
			b, _ := os.ReadFile(logPath)
			m.t.Logf("sshd log:\n%s", b)
		}
	})
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	want := fmt.Sprintf("Server listening on 127.0.0.1 port %d.", port)
	if err := daemontest.Start(m.t, cmd, 6*time.Second, 20*time.Millisecond, func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), want)
	}); err != nil {
		m.t.Fatalf("sshd did not start: %v", err)
	}
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		m.t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	if err := os.WriteFile(filepath.Join(m.dir, "known_hosts"), fmt.Appendf(nil, "[127.0.0.1]:%d %s %s\n", port, f[0], f[1]), 0o644); err != nil {
		m.t.Fatal(err)
	}
	return port
}

// readmeBlock returns the code block of hooks/README.md that follows the
// marker comment <!-- deb-e2e: name -->: the test runs what the README
// says, not a copy of it.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../hooks/README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "<!-- deb-e2e: "+name+" -->")
	if i < 0 {
		t.Fatalf("hooks/README.md has no <!-- deb-e2e: %s --> block", name)
	}
	s = s[i:]
	start := strings.Index(s, "```")
	s = s[start:]
	s = s[strings.Index(s, "\n")+1:]
	end := strings.Index(s, "```")
	var out []string
	for line := range strings.Lines(s[:end]) {
		out = append(out, strings.TrimPrefix(line, "   ")) // list indentation
	}
	return strings.Join(out, "")
}

func writeInfra(t *testing.T, dir string, records map[string]string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "local runner = import 'runner.libsonnet';\nlocal route53 = import 'route53.libsonnet';\nlocal z = route53.zone('%s');\nrunner.output([\n", zone)
	for name, ip := range records {
		fmt.Fprintf(&b, "  z.a('%s', '%s'),\n", name, ip)
	}
	b.WriteString("])\n")
	if err := os.WriteFile(filepath.Join(dir, "main.jsonnet"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hasRecord(t *testing.T, sim *r53sim.Server, zoneID, name string) bool {
	t.Helper()
	rs, err := sim.Records(zoneID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if strings.EqualFold(r.Name, name) {
			return true
		}
	}
	return false
}

func ownerOf(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("stat", "-c", "%U", path).Output()
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

func newest(paths []string) string {
	best, bt := "", time.Time{}
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.ModTime().After(bt) {
			best, bt = p, fi.ModTime()
		}
	}
	return best
}
