package dnsmasq_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitops-runner/gitops-runner/internal/daemontest"
	"github.com/gitops-runner/gitops-runner/internal/testenv"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// sshd is a real sshd on a loopback port that lets the test's user in with
// one key.
type sshd struct {
	port    int
	hostPub ssh.PublicKey // the ed25519 host key, which known_hosts files pin
	ecdsa   ssh.PublicKey // the other host key
	key     string        // the client's private key file
	dir     string
}

// startSSHD runs sshd -D as the test's user (root in CI: then root logs in
// with its key only) on a free port of 127.0.0.1.
func startSSHD(t *testing.T) *sshd {
	t.Helper()
	prog := testenv.Program(t, "sshd", "openssh-server")
	keygen := testenv.Program(t, "ssh-keygen", "openssh-client")
	s := &sshd{dir: t.TempDir()}
	hostKey := filepath.Join(s.dir, "host_ed25519")
	// A second host key of another type, which the client prefers: the
	// known_hosts files pin the ed25519 key only, so the client must offer
	// only that type.
	ecdsaKey := filepath.Join(s.dir, "host_ecdsa")
	s.key = filepath.Join(s.dir, "runner_ed25519")
	for _, k := range []struct{ path, typ string }{{hostKey, "ed25519"}, {ecdsaKey, "ecdsa"}, {s.key, "ed25519"}} {
		if out, err := exec.Command(keygen, "-q", "-t", k.typ, "-N", "", "-C", "dnsmasq test", "-f", k.path).CombinedOutput(); err != nil { //nolint:gosec // the test's keys
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	s.hostPub, s.ecdsa = readPub(t, hostKey+".pub"), readPub(t, ecdsaKey+".pub")
	pub, err := os.ReadFile(s.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(s.dir, "authorized_keys")
	write(t, authorized, string(pub))
	if os.Geteuid() == 0 {
		// sshd started as root needs its privilege separation directory,
		// which Debian's init script or systemd unit would create.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logPath := filepath.Join(s.dir, "sshd.log")
	// Another process may take the free port before sshd binds it: then
	// sshd exits and another port is tried.
	for try := 0; ; try++ {
		s.port = daemontest.FreePort(t)
		cfg := filepath.Join(s.dir, "sshd_config")
		write(t, cfg, strings.Join([]string{
			fmt.Sprintf("ListenAddress 127.0.0.1:%d", s.port),
			"HostKey " + ecdsaKey, "HostKey " + hostKey, "PidFile none",
			"AuthorizedKeysFile " + authorized,
			"AllowUsers " + currentUser(t),
			"AuthenticationMethods publickey", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
			"UsePAM no", "PermitRootLogin prohibit-password",
			// The key lies in the test's temp dir, below world-writable /tmp.
			"StrictModes no",
			"AllowTcpForwarding no", "X11Forwarding no", "PermitTTY no", "PrintMotd no",
			"LogLevel VERBOSE",
			// A HOME without the user's shell start-up files: bash runs
			// ~/.bashrc for every command sshd starts, and a slow one
			// (pyenv init on a dev box) costs seconds a session.
			`SetEnv "HOME=` + s.dir + `"`,
		}, "\n")+"\n")
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(prog, "-D", "-e", "-f", cfg) //nolint:gosec // the test's sshd
		cmd.Stdout, cmd.Stderr = logf, logf
		want := fmt.Sprintf("Server listening on 127.0.0.1 port %d.", s.port)
		err = daemontest.Start(t, cmd, 10*time.Second, 10*time.Millisecond, func() bool { return strings.Contains(read(t, logPath), want) })
		_ = logf.Close()
		switch {
		case err == nil:
			return s
		case errors.Is(err, daemontest.ErrExited) && try < 3:
			continue
		}
		t.Fatalf("sshd: %v\n%s", err, read(t, logPath))
	}
}

// knownHosts writes a known_hosts file pinning key for the sshd's address.
func (s *sshd) knownHosts(t *testing.T, name string, key ssh.PublicKey) string {
	t.Helper()
	return s.knownHostsFor(t, name, s.port, key)
}

// knownHostsFor writes a known_hosts file pinning key for 127.0.0.1:port.
func (s *sshd) knownHostsFor(t *testing.T, name string, port int, key ssh.PublicKey) string {
	t.Helper()
	p := filepath.Join(s.dir, name)
	write(t, p, knownhosts.Line([]string{knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", port))}, key)+"\n")
	return p
}

// sshConfig is the lab's config with flat1 reached over SSH.
func (s *sshd) sshConfig(t *testing.T, l *lab, knownHosts string) json.RawMessage {
	t.Helper()
	var c map[string]map[string]map[string]any
	if err := json.Unmarshal(l.config(), &c); err != nil {
		t.Fatal(err)
	}
	flat1 := c["sites"]["flat1"]
	flat1["ssh"] = map[string]any{"host": "127.0.0.1", "port": s.port, "user": currentUser(t),
		"identityFile": s.key, "knownHostsFile": knownHosts, "timeout": "5s"}
	// The login shell's PATH may lack /usr/sbin.
	prog, err := exec.LookPath("dnsmasq")
	if err != nil {
		t.Fatal(err)
	}
	flat1["dnsmasq"] = prog
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func currentUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

func readPub(t *testing.T, path string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // the test's key
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// flat1's files are on "another host", reached through a real sshd: a host
// record lands in its hosts file, dnsmasq is reloaded there (kill -HUP
// through the login shell) and every site resolves the name; removing it
// takes the line out again.
func TestSSHTransport(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	s := startSSHD(t)
	b, err := dnsmasq.New(s.sshConfig(t, l, s.knownHosts(t, "known_hosts", s.hostPub)), nil)
	if err != nil {
		t.Fatal(err)
	}
	flat1 := l.site("flat1")
	if call, _, err := b.Probe(t.Context()); err != nil || !strings.Contains(call, fmt.Sprintf("flat1 (ssh %s@127.0.0.1:%d)", currentUser(t), s.port)) {
		t.Errorf("probe: %q %v", call, err)
	}
	id := steps.ID{Kind: dnsmasq.KindHost, Name: "nas"}
	want := steptest.Decode(t, b, dnsmasq.KindHost, `{"site": "flat1", "name": "nas.flat1.int.mydomain", "ipv4": "10.18.2.20"}`)
	c, err := step(t, b, steps.Target{ID: id, Want: want})
	if err != nil || c.Action != steps.Create {
		t.Fatalf("create over ssh: %s %v", c.Action, err)
	}
	if got := read(t, flat1.hosts); !strings.HasSuffix(got, "\n10.18.2.20 nas.flat1.int.mydomain\n") {
		t.Errorf("flat1 hosts:\n%s", got)
	}
	l.waitAnswerAt([]*labSite{flat1}, "nas.flat1.int.mydomain", dns.TypeA, "10.18.2.20")
	// Observe reads it back over SSH: nothing to do.
	c, err = step(t, b, steps.Target{ID: id, Want: want, Last: want})
	if err != nil || c.Action != steps.NoOp {
		t.Fatalf("again: %s %v", c.Action, err)
	}
	if log := read(t, filepath.Join(s.dir, "sshd.log")); !strings.Contains(log, "Accepted publickey") {
		t.Errorf("sshd did not log the login:\n%s", log)
	}
	c, err = step(t, b, steps.Target{ID: id, Last: want})
	if err != nil || c.Action != steps.Delete {
		t.Fatalf("delete over ssh: %s %v", c.Action, err)
	}
	l.waitAnswerAt([]*labSite{flat1}, "nas.flat1.int.mydomain", dns.TypeA, "")
	if got := read(t, flat1.hosts); strings.Contains(got, "nas") {
		t.Errorf("flat1 hosts after delete:\n%s", got)
	}

	// dnsmasq --test on the host refuses (a typo in its configuration):
	// the remote script leaves the file as it was and nothing next to it.
	write(t, flat1.conf, read(t, flat1.conf)+"no-such-option\n")
	before := snap(t, flat1.hosts)
	_, err = step(t, b, steps.Target{ID: id, Want: want})
	var te *dnsmasq.TestError
	if !errors.As(err, &te) || !strings.Contains(te.Output, "bad option at line") || steps.IsTransient(err) {
		t.Fatalf("err = %v, want a *TestError with dnsmasq's message", err)
	}
	if !snap(t, flat1.hosts).same(before) {
		t.Errorf("hosts file changed")
	}
	noLeftovers(t, flat1.hosts)
}

// A host key that is not the pinned one (the host was reinstalled, or
// someone is in the middle) is refused with the presented key's
// fingerprint, and so is a host known_hosts has no key for; nothing is
// read or written, and the refusal is not retried.
func TestSSHRefusesHostKey(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	s := startSSHD(t)
	otherPub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ssh.NewPublicKey(otherPub)
	if err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(s.dir, "known_hosts.empty")
	write(t, unknown, "")
	fp := ssh.FingerprintSHA256(s.hostPub)
	for _, tc := range []struct {
		name, knownHosts, want string
	}{
		{"changed", s.knownHosts(t, "known_hosts.other", other), "has CHANGED: it presents ssh-ed25519 key " + fp},
		// Nothing pinned: the client takes the type it prefers.
		{"unknown", unknown, "is unknown: ecdsa-sha2-nistp256 key " + ssh.FingerprintSHA256(s.ecdsa) + " is not in " + unknown},
	} {
		b, err := dnsmasq.New(s.sshConfig(t, l, tc.knownHosts), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := steptest.Decode(t, b, dnsmasq.KindHost, `{"site": "flat1", "name": "nas.flat1.int.mydomain", "ipv4": "10.18.2.20"}`)
		_, err = b.Observe(t.Context(), []steps.Target{{ID: steps.ID{Kind: dnsmasq.KindHost, Name: "nas"}, Want: want}})
		var he *dnsmasq.HostKeyError
		if !errors.As(err, &he) || !strings.Contains(err.Error(), tc.want) || steps.IsTransient(err) {
			t.Errorf("%s: err = %v, want a permanent *HostKeyError with %q", tc.name, err, tc.want)
		}
		if _, _, err := b.Probe(t.Context()); !errors.As(err, &he) {
			t.Errorf("%s: probe: %v, want a *HostKeyError", tc.name, err)
		}
	}
	if _, err := os.Stat(l.site("flat1").hosts); !os.IsNotExist(err) {
		t.Errorf("flat1's hosts file exists: %v", err)
	}
}

// A key the host does not accept: the error names identityFile and the
// user, and says how to fix it.
func TestSSHAuthRefused(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	s := startSSHD(t)
	other, _ := keyFile(t, 0o600)
	b := labWith(t, s.sshConfig(t, l, s.knownHosts(t, "known_hosts", s.hostPub)), func(sites map[string]map[string]any) {
		sites["flat1"]["ssh"].(map[string]any)["identityFile"] = other
	})
	want := steptest.Decode(t, b, dnsmasq.KindHost, `{"site": "flat1", "name": "nas.flat1.int.mydomain", "ipv4": "10.18.2.20"}`)
	_, err := b.Observe(t.Context(), []steps.Target{{ID: steps.ID{Kind: dnsmasq.KindHost, Name: "nas"}, Want: want}})
	if err == nil || !strings.Contains(err.Error(), "the host refused user "+currentUser(t)+" with the key in identityFile "+other) ||
		!strings.Contains(err.Error(), "authorized_keys") || steps.IsTransient(err) {
		t.Errorf("err = %v", err)
	}
}

// A host that accepts the TCP connection and never speaks SSH (a wedged
// sshd, a middlebox) does not hold the run: the handshake is bounded by
// ssh.timeout, the site is observed as unreachable, the other site is read.
func TestSSHHandshakeHangs(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	s := startSSHD(t)
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
	)
	t.Cleanup(func() {
		_ = hang.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accepted, never answered
			mu.Unlock()
		}
	}()
	b := labWith(t, s.sshConfig(t, l, s.knownHosts(t, "known_hosts", s.hostPub)), func(sites map[string]map[string]any) {
		sites["flat1"]["ssh"].(map[string]any)["port"] = hang.Addr().(*net.TCPAddr).Port
		sites["flat1"]["ssh"].(map[string]any)["timeout"] = "300ms"
	})
	nas := steptest.Decode(t, b, dnsmasq.KindHost, `{"site": "flat1", "name": "nas.flat1.int.mydomain", "ipv4": "10.18.2.20"}`)
	db := steptest.Decode(t, b, dnsmasq.KindHost, `{"site": "hetzner", "name": "db.hetzner.int.mydomain", "ipv4": "10.18.1.5"}`)
	start := time.Now()
	live, err := b.Observe(t.Context(), []steps.Target{
		{ID: steps.ID{Kind: dnsmasq.KindHost, Name: "nas"}, Want: nas},
		{ID: steps.ID{Kind: dnsmasq.KindHost, Name: "db"}, Want: db},
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("observe took %s with a host that never answers, ssh.timeout 300ms", took)
	}
	if err != nil {
		t.Fatal(err)
	}
	nasID, dbID := steps.ID{Kind: dnsmasq.KindHost, Name: "nas"}, steps.ID{Kind: dnsmasq.KindHost, Name: "db"}
	c1, err := b.Diff(steps.Target{ID: nasID, Want: nas}, live[nasID])
	if err != nil || !strings.Contains(c1.Blocked, "no SSH handshake within 300ms") {
		t.Errorf("flat1's change: blocked %q (%v), want: no SSH handshake within 300ms", c1.Blocked, err)
	}
	c2, err := b.Diff(steps.Target{ID: dbID, Want: db}, live[dbID])
	if err != nil || c2.Blocked != "" || c2.Action != steps.Create {
		t.Errorf("hetzner's change: %s blocked %q (%v), want a create", c2.Action, c2.Blocked, err)
	}
}
