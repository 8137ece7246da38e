package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-jsonnet"
	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/examples"
)

// DnsmasqHint is the line `runner lab` prints when dnsmasq is not
// installed: the lab then leaves the sites' internal DNS out.
const DnsmasqHint = "dnsmasq is not installed: the sites' internal DNS (one dnsmasq per site) is not part of the lab; to add it, install dnsmasq (Debian: apt-get install dnsmasq-base) and start the lab again"

// Site is one site of the homelab whose dnsmasq the lab runs: DNS only, on
// 127.0.0.1 and a port of its own, as the lab's user, with the three files
// the runner owns (steps/dnsmasq) in the lab directory.
type Site struct {
	Name, Domain, Subnet string
	// Port is the UDP and TCP port its dnsmasq answers on, at 127.0.0.1.
	Port int
	// Dir holds its configuration, the runner's files, pid file and log.
	Dir string

	conf, hosts, dhcpHosts, servers, pidFile, log string

	cmd  *exec.Cmd
	done chan error
}

// homelabSite is a site as examples/homelab/homelab.libsonnet declares it.
type homelabSite struct {
	Domain string `json:"domain"`
	Subnet string `json:"subnet"`
}

// homelabSites reads the sites of examples/homelab (the table the lab seeds
// its repo from): names, domains, subnets, in name order.
func homelabSites() ([]*Site, error) {
	b, err := examples.Homelab.ReadFile("homelab/homelab.libsonnet")
	if err != nil {
		return nil, err
	}
	vm := jsonnet.MakeVM()
	out, err := vm.EvaluateAnonymousSnippet("homelab.libsonnet", "("+string(b)+").sites")
	if err != nil {
		return nil, fmt.Errorf("examples/homelab: sites: %w", err)
	}
	var sites map[string]homelabSite
	if err := json.Unmarshal([]byte(out), &sites); err != nil {
		return nil, fmt.Errorf("examples/homelab: sites: %w", err)
	}
	var list []*Site
	for name, s := range sites {
		list = append(list, &Site{Name: name, Domain: s.Domain, Subnet: s.Subnet})
	}
	slices.SortFunc(list, func(a, b *Site) int { return strings.Compare(a.Name, b.Name) })
	return list, nil
}

// startDnsmasq starts one dnsmasq per site of the example when prog is
// set (an installed dnsmasq); their ports are remembered in ports.json.
func (l *Lab) startDnsmasq(prog string) error {
	sites, err := homelabSites()
	if err != nil {
		return err
	}
	for _, s := range sites {
		s.Dir = filepath.Join(l.Dir, "dnsmasq", s.Name)
		if err := l.startSite(prog, s); err != nil {
			return err
		}
		l.Sites = append(l.Sites, s)
	}
	return nil
}

// startSite writes a site's configuration and starts its dnsmasq on the
// remembered port, or a free one when that is taken (three tries: another
// program may take a free port before dnsmasq binds it).
func (l *Lab) startSite(prog string, s *Site) error {
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return fmt.Errorf("dnsmasq of %s: %w", s.Name, err)
	}
	s.conf = filepath.Join(s.Dir, "dnsmasq.conf")
	s.hosts = filepath.Join(s.Dir, "runner.hosts")
	s.dhcpHosts = filepath.Join(s.Dir, "runner.dhcp-hosts")
	s.servers = filepath.Join(s.Dir, "runner.servers")
	s.pidFile = filepath.Join(s.Dir, "dnsmasq.pid")
	s.log = filepath.Join(s.Dir, "dnsmasq.log")
	// Empty files the first time, so dnsmasq (2.90) does not log "cannot
	// read" and "failed to load names" for them; the runner's files keep
	// their content across restarts.
	for _, f := range []string{s.hosts, s.dhcpHosts, s.servers} {
		fh, err := os.OpenFile(f, os.O_WRONLY|os.O_CREATE, 0o644) //nolint:gosec // dnsmasq reads it
		if err != nil {
			return fmt.Errorf("dnsmasq of %s: %w", s.Name, err)
		}
		_ = fh.Close()
	}
	stopStale(s.pidFile, s.conf)
	reverse, err := reverseZone(s.Subnet)
	if err != nil {
		return fmt.Errorf("dnsmasq of %s: %w", s.Name, err)
	}
	key := "dnsmasq-" + s.Name
	var errs []error
	for try := range 3 {
		port, err := l.ports.udpPort(key, try > 0)
		if err != nil {
			return err
		}
		s.Port = port
		conf := strings.Join([]string{
			"# Written by `runner lab` on each start: the dnsmasq of site " + s.Name + ", DNS only.",
			"no-resolv", "no-hosts",
			"port=" + strconv.Itoa(port),
			"listen-address=127.0.0.1", "bind-interfaces",
			"domain=" + s.Domain,
			// Its own names are never forwarded: NXDOMAIN for unknown ones.
			"local=/" + s.Domain + "/",
			"local=/" + reverse + "/",
			// The three files the runner owns (backends.dnsmasq.sites).
			"addn-hosts=" + s.hosts,
			"dhcp-hostsfile=" + s.dhcpHosts,
			"servers-file=" + s.servers,
			"pid-file=" + s.pidFile,
		}, "\n") + "\n"
		if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil { //nolint:gosec // dnsmasq reads it
			return fmt.Errorf("dnsmasq of %s: %w", s.Name, err)
		}
		err = s.start(prog)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// start runs dnsmasq in the foreground and waits until it answers.
func (s *Site) start(prog string) error {
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600) //nolint:gosec // the lab's own directory
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	args := []string{"--keep-in-foreground", "--log-facility=-", "--conf-file=" + s.conf}
	if os.Geteuid() == 0 {
		// Started as root, dnsmasq would drop to user nobody, who cannot
		// read the lab directory: stay root (an unprivileged user keeps
		// its user anyway).
		args = append(args, "--user=root")
	}
	s.cmd = exec.Command(prog, args...) //nolint:gosec // the lab's dnsmasq
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// It dies with the lab, also when the lab is killed — unless it
	// changes its user ID, which clears the setting (prctl(2),
	// PR_SET_PDEATHSIG): as root it does, and the next start ends it
	// (stopStale).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("dnsmasq of %s: %w", s.Name, err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.cmd = nil
			return fmt.Errorf("dnsmasq of %s exited on port %d: %w\n%s", s.Name, s.Port, err, tail(s.log))
		default:
		}
		if s.answers() {
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("dnsmasq of %s does not answer on 127.0.0.1:%d\n%s", s.Name, s.Port, tail(s.log))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopStale ends a dnsmasq a lab killed before it could stop it left
// running: the process in pidFile, if its command line names conf (so a
// recycled pid of another program is left alone). It waits up to 5 s for
// it to go, which frees its port.
func stopStale(pidFile, conf string) {
	b, err := os.ReadFile(pidFile) //nolint:gosec // the lab's own directory
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || !strings.Contains(string(cmdline), "--conf-file="+conf+"\x00") {
		return
	}
	if syscall.Kill(pid, syscall.SIGTERM) != nil {
		return
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
}

// answers reports whether the site's dnsmasq answers a question of its
// own domain (NXDOMAIN counts: it is up).
func (s *Site) answers() bool {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn("lab-probe."+s.Domain), dns.TypeA)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	_, _, err := c.Exchange(m, s.Addr())
	return err == nil
}

// Addr is where the site's dnsmasq answers DNS (host:port).
func (s *Site) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// stop ends the site's dnsmasq: SIGTERM, then SIGKILL after 5 s.
func (s *Site) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// dnsmasqConfig is the backends.dnsmasq section for the lab's sites: files
// local, reloaded by SIGHUP to the pid in each site's pid file.
func (l *Lab) dnsmasqConfig() map[string]any {
	sites := map[string]any{}
	for _, s := range l.Sites {
		sites[s.Name] = map[string]any{
			"domain": s.Domain, "subnet": s.Subnet,
			"addnHosts": s.hosts, "dhcpHostsfile": s.dhcpHosts, "serversFile": s.servers,
			"confFile": s.conf, "pidFile": s.pidFile, "dnsmasq": l.opts.Dnsmasq,
		}
	}
	return map[string]any{"sites": sites}
}

// labLibsonnet is the content of lab.libsonnet, the lab's part of its infra
// repo: where the lab's dnsmasq sites answer (main.jsonnet adds it to the
// data table), or, without dnsmasq, that the sites' DNS is left out.
func (l *Lab) labLibsonnet() string {
	var b strings.Builder
	b.WriteString("// Written by `runner lab`: what differs in this lab from the real homelab.\n")
	b.WriteString("// main.jsonnet adds it to the data table (homelab.libsonnet). The lab rewrites\n// it (a commit on main) when it changes.\n")
	if len(l.Sites) == 0 {
		b.WriteString("// dnsmasq is not installed (Debian: apt-get install dnsmasq-base): the sites'\n// internal DNS is left out.\n{ dnsmasq: false }\n")
		return b.String()
	}
	b.WriteString("// Each site's dnsmasq answers on 127.0.0.1 and a port of its own, and the\n// others forward its domain and reverse zone there.\n{\n  sites+: {\n")
	for _, s := range l.Sites {
		fmt.Fprintf(&b, "    %s+: { dns: '127.0.0.1', dnsPort: %d },\n", s.Name, s.Port)
	}
	b.WriteString("  },\n}\n")
	return b.String()
}

// labImport is main.jsonnet's line that reads the data table, and what
// the lab makes of it.
const (
	mainImport    = "local h = import 'homelab.libsonnet';"
	mainImportLab = "local h = (import 'homelab.libsonnet') + (import 'lab.libsonnet');  // runner lab: its sites' DNS"
)

// syncLabFile commits lab.libsonnet on main when this start needs another
// content (a site's port was taken, dnsmasq was installed or removed). The
// commit is made with git plumbing in the bare repo, so no hook runs; the
// lab's deploy that follows applies it. A repo without lab.libsonnet was
// seeded by an older lab, for one Proxmox host: it is refused.
func (l *Lab) syncLabFile(ctx context.Context) error {
	want := l.labLibsonnet()
	have, err := gitOut(ctx, l.Repo, nil, "cat-file", "blob", "main:lab.libsonnet")
	if err != nil {
		return fmt.Errorf("%s was seeded by an older runner lab (one Proxmox host, no dnsmasq sites): start afresh with another --dir, or delete %s", l.Repo, l.Dir)
	}
	if have == want {
		return nil
	}
	index := filepath.Join(l.Dir, "lab-index.tmp")
	defer os.Remove(index) //nolint:errcheck // a temp file
	env := []string{"GIT_INDEX_FILE=" + index}
	parent, err := gitOut(ctx, l.Repo, nil, "rev-parse", "refs/heads/main")
	if err != nil {
		return err
	}
	parent = strings.TrimSpace(parent)
	if _, err := gitOut(ctx, l.Repo, env, "read-tree", parent); err != nil {
		return err
	}
	blob, err := gitIn(ctx, l.Repo, want, "hash-object", "-w", "--stdin")
	if err != nil {
		return err
	}
	if _, err := gitOut(ctx, l.Repo, env, "update-index", "--add", "--cacheinfo", "100644,"+strings.TrimSpace(blob)+",lab.libsonnet"); err != nil {
		return err
	}
	tree, err := gitOut(ctx, l.Repo, env, "write-tree")
	if err != nil {
		return err
	}
	commit, err := gitOut(ctx, l.Repo, nil, "-c", "user.name=runner lab", "-c", "user.email=lab@localhost",
		"commit-tree", strings.TrimSpace(tree), "-p", parent, "-m", "runner lab: this lab's dnsmasq sites (lab.libsonnet)")
	if err != nil {
		return err
	}
	if _, err := gitOut(ctx, l.Repo, nil, "update-ref", "refs/heads/main", strings.TrimSpace(commit), parent); err != nil {
		return err
	}
	fmt.Fprintf(l.opts.Out, "lab: committed a new lab.libsonnet on main (this lab's dnsmasq sites changed): pull before your next push\n")
	return nil
}

// reverseZone is the in-addr.arpa zone of a /24 (or /16, /8) IPv4 subnet.
func reverseZone(cidr string) (string, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits()%8 != 0 || p.Bits() == 0 {
		return "", fmt.Errorf("subnet %q: want an IPv4 /8, /16 or /24", cidr)
	}
	a := p.Addr().As4()
	var labels []string
	for i := p.Bits()/8 - 1; i >= 0; i-- {
		labels = append(labels, strconv.Itoa(int(a[i])))
	}
	return strings.Join(labels, ".") + ".in-addr.arpa", nil
}

// tail is the end of a log file, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path) //nolint:gosec // the lab's own log
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
