package dnsmasq_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/internal/daemontest"
	"github.com/gitops-runner/gitops-runner/internal/testenv"

	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
)

// labSite is one site's real dnsmasq, serving DNS on a loopback address
// and an unprivileged port, started by the test as the test's user.
type labSite struct {
	name, domain string
	subnet       string // 10.18.N.0/24
	addr         string // 127.0.18.N: where its dnsmasq listens
	dir          string
	conf         string // the site's configuration (dnsmasq --conf-file)
	hosts        string // --addn-hosts
	dhcpHosts    string // --dhcp-hostsfile
	servers      string // --servers-file
	pidFile      string
	log          string
	handWritten  string // a file of its conf-dir the runner must not touch
}

// lab is one dnsmasq per site, all on one port.
type lab struct {
	t     testing.TB
	port  int
	sites []*labSite
}

// siteNames are the reference homelab's sites.
var siteNames = []string{"hetzner", "flat1", "flat2", "ovh"}

// newLab starts a dnsmasq per site. Each serves its domain from the
// runner's files, answers NXDOMAIN for unknown names of its own domain and
// reverse zone (local=), and forwards nothing but what the servers-file
// says (no-resolv).
func newLab(t testing.TB) *lab {
	t.Helper()
	prog := testenv.Program(t, "dnsmasq", "dnsmasq-base")
	l := &lab{t: t}
	root := t.TempDir()
	// dnsmasq started as root drops to user nobody, who could not read the
	// test's private temp directory: stay the test's user (--user=root;
	// dnsmasq started as another user keeps its user anyway).
	var asRoot []string
	if os.Geteuid() == 0 {
		asRoot = []string{"--user=root"}
	}
	for try := 0; ; try++ {
		l.port = freeUDPPort(t)
		l.sites = nil
		err := error(nil)
		for i, n := range siteNames {
			s := &labSite{name: n, domain: n + ".int.mydomain", subnet: fmt.Sprintf("10.18.%d.0/24", i+1),
				addr: fmt.Sprintf("127.0.18.%d", i+1), dir: filepath.Join(root, fmt.Sprintf("try%d", try), n)}
			if err = l.start(prog, s, i+1, asRoot); err != nil {
				break
			}
			l.sites = append(l.sites, s)
		}
		if err == nil {
			return l
		}
		if try == 3 {
			t.Fatal(err)
		}
		t.Logf("dnsmasq did not start on port %d, trying another: %v", l.port, err)
	}
}

// start writes a site's configuration and starts its dnsmasq.
func (l *lab) start(prog string, s *labSite, n int, extra []string) error {
	t := l.t
	confDir := filepath.Join(s.dir, "dnsmasq.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.conf = filepath.Join(s.dir, "dnsmasq.conf")
	s.hosts = filepath.Join(s.dir, "runner.hosts")
	s.dhcpHosts = filepath.Join(s.dir, "runner.dhcp-hosts")
	s.servers = filepath.Join(s.dir, "runner.servers")
	s.pidFile = filepath.Join(s.dir, "dnsmasq.pid")
	s.log = filepath.Join(s.dir, "dnsmasq.log")
	s.handWritten = filepath.Join(confDir, "handwritten.conf")
	conf := strings.Join([]string{
		"no-resolv", "no-hosts",
		fmt.Sprintf("port=%d", l.port),
		"listen-address=" + s.addr, "bind-interfaces",
		"domain=" + s.domain,
		"local=/" + s.domain + "/",
		fmt.Sprintf("local=/%d.18.10.in-addr.arpa/", n),
		"addn-hosts=" + s.hosts,
		"dhcp-hostsfile=" + s.dhcpHosts,
		"servers-file=" + s.servers,
		"conf-dir=" + confDir + ",*.conf",
		"pid-file=" + s.pidFile,
	}, "\n") + "\n"
	write(t, s.conf, conf)
	// The operator's own file: the runner never touches it.
	write(t, s.handWritten, fmt.Sprintf("# written by hand\ntxt-record=handwritten.%s,\"kept\"\n", s.domain))
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logf.Close() }()
	args := append([]string{"--keep-in-foreground", "--log-facility=-", "--conf-file=" + s.conf}, extra...)
	cmd := exec.Command(prog, args...) //nolint:gosec // the test's dnsmasq
	cmd.Stdout, cmd.Stderr = logf, logf
	var last string // the last query's answer, for the error
	err = daemontest.Start(t, cmd, 10*time.Second, 20*time.Millisecond, func() bool {
		r, err := query(s.addr, l.port, "handwritten."+s.domain, dns.TypeTXT)
		last = answer(r, err)
		return err == nil && len(r.Answer) == 1
	})
	if err != nil {
		b, _ := os.ReadFile(s.log)
		return fmt.Errorf("dnsmasq of %s on %s:%d: %w (last answer: %s)\n%s", s.name, s.addr, l.port, err, last, b)
	}
	return nil
}

// site returns a site by name.
func (l *lab) site(name string) *labSite {
	for _, s := range l.sites {
		if s.name == name {
			return s
		}
	}
	l.t.Fatalf("no site %s", name)
	return nil
}

// config is the backends.dnsmasq section for the lab's sites, files local.
func (l *lab) config() json.RawMessage {
	sites := map[string]any{}
	for _, s := range l.sites {
		sites[s.name] = map[string]any{
			"domain": s.domain, "subnet": s.subnet,
			"addnHosts": s.hosts, "dhcpHostsfile": s.dhcpHosts, "serversFile": s.servers,
			"confFile": s.conf, "pidFile": s.pidFile,
		}
	}
	b, err := json.Marshal(map[string]any{"sites": sites})
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

// backend builds the backend from l.config().
func (l *lab) backend() *dnsmasq.Backend {
	b, err := dnsmasq.New(l.config(), nil)
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

// sitesJsonnet declares the lab's sites with lib/dnsmasq.libsonnet, as
// Jsonnet locals named after the sites, and `sites`, the list of them.
func (l *lab) sitesJsonnet() string {
	var b strings.Builder
	b.WriteString("local dnsmasq = import 'dnsmasq.libsonnet';\n")
	var names []string
	for _, s := range l.sites {
		fmt.Fprintf(&b, "local %s = dnsmasq.site(%q, %q, %q, %q, { port: %d });\n", s.name, s.name, s.domain, s.subnet, s.addr, l.port)
		names = append(names, s.name)
	}
	fmt.Fprintf(&b, "local sites = [%s];\n", strings.Join(names, ", "))
	return b.String()
}

// waitAnswer queries every site until name's answer of type qtype is want
// ("" = NXDOMAIN), or fails after 5s. dnsmasq re-reads its files
// asynchronously after SIGHUP.
func (l *lab) waitAnswer(name string, qtype uint16, want string) {
	l.t.Helper()
	l.waitAnswerAt(l.sites, name, qtype, want)
}

// waitAnswerAt is waitAnswer at some sites.
func (l *lab) waitAnswerAt(sites []*labSite, name string, qtype uint16, want string) {
	l.t.Helper()
	for _, s := range sites {
		var got string
		deadline := time.Now().Add(5 * time.Second)
		for {
			r, err := query(s.addr, l.port, name, qtype)
			got = answer(r, err)
			if got == want || (want == "" && got == "NXDOMAIN") {
				break
			}
			if time.Now().After(deadline) {
				l.t.Errorf("site %s (%s:%d): %s %s = %q, want %q", s.name, s.addr, l.port, name, dns.TypeToString[qtype], got, want)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// answer renders a reply: the first answer's value, or the rcode.
func answer(r *dns.Msg, err error) string {
	switch {
	case err != nil:
		return "error: " + err.Error()
	case r.Rcode != dns.RcodeSuccess:
		return dns.RcodeToString[r.Rcode]
	case len(r.Answer) == 0:
		return "NODATA"
	}
	switch a := r.Answer[0].(type) {
	case *dns.A:
		return a.A.String()
	case *dns.AAAA:
		return a.AAAA.String()
	case *dns.PTR:
		return a.Ptr
	case *dns.TXT:
		return strings.Join(a.Txt, "")
	}
	return r.Answer[0].String()
}

// query asks a dnsmasq one question over UDP.
func query(addr string, port int, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, net.JoinHostPort(addr, fmt.Sprint(port)))
	return r, err
}

// freeUDPPort finds a port free on all the lab's addresses.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	for range 20 {
		c, err := net.ListenPacket("udp", "127.0.18.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		_ = c.Close()
		free := true
		for i := 2; i <= len(siteNames); i++ {
			c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.18.%d:%d", i, port))
			if err != nil {
				free = false
				break
			}
			_ = c.Close()
		}
		if free {
			return port
		}
	}
	t.Fatal("no free UDP port on 127.0.18.1-4")
	return 0
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil { //nolint:gosec // dnsmasq reads it
		t.Fatal(err)
	}
}

func read(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // the test's own file
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// snapshot is a file's content and modification time.
type snapshot struct {
	content []byte
	mtime   time.Time
}

func snap(t testing.TB, path string) snapshot {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // the test's own file
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{b, st.ModTime()}
}

func (s snapshot) same(o snapshot) bool {
	return bytes.Equal(s.content, o.content) && s.mtime.Equal(o.mtime)
}
