// Package dnsmasq is the internal DNS and DHCP backend of gitops-runner: per
// site it owns three files of that site's dnsmasq — an --addn-hosts file
// (kind dnsmasq.host), a --dhcp-hostsfile (dnsmasq.dhcpHost) and a
// --servers-file (dnsmasq.forward) — which dnsmasq re-reads on SIGHUP, and
// never touches another file. Observe reads the files, Diff compares the
// lines of each resource, and Apply rewrites a file next to the old one,
// checks it with `dnsmasq --test`, renames it into place and reloads
// dnsmasq, on the runner's host or over SSH.
package dnsmasq

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Config is the backends.dnsmasq section of the runner configuration.
type Config struct {
	// Sites are the dnsmasq instances by site name ("hetzner", "flat1").
	Sites map[string]*Site `json:"sites"`
}

// Site is one site's dnsmasq: its network, the three files the runner
// owns, how to check and reload it, and where it runs.
type Site struct {
	// Domain is the site's DNS domain ("flat1.int.mydomain"), as dnsmasq's
	// --domain; forwarding it from this site is refused.
	Domain string `json:"domain"`
	// Subnet is the site's IPv4 network (CIDR): host records and DHCP
	// reservations of the site must be in it.
	Subnet string `json:"subnet"`
	// Subnet6 is the site's IPv6 network, if any (then IPv6 host records
	// must be in it).
	Subnet6 string `json:"subnet6,omitempty"`
	// AddnHosts, DHCPHostsfile and ServersFile are the absolute paths of
	// the files the runner owns: dnsmasq's configuration must name them
	// with --addn-hosts, --dhcp-hostsfile and --servers-file. They are
	// created when missing; their directory must be writable by the
	// runner's user (the new file is written next to the old and renamed).
	AddnHosts     string `json:"addnHosts"`
	DHCPHostsfile string `json:"dhcpHostsfile"`
	ServersFile   string `json:"serversFile"`
	// ConfFile is the configuration `dnsmasq --test` checks the new lines
	// with (default /etc/dnsmasq.conf).
	ConfFile string `json:"confFile,omitempty"`
	// Dnsmasq is the dnsmasq program on the site's host (default "dnsmasq").
	Dnsmasq string `json:"dnsmasq,omitempty"`
	// PidFile is dnsmasq's --pid-file: the runner sends SIGHUP to that
	// process, which needs the runner to run as dnsmasq's user. Give
	// either PidFile or Reload.
	PidFile string `json:"pidFile,omitempty"`
	// Reload is a command that makes dnsmasq re-read the files, e.g.
	// ["sudo", "systemctl", "reload", "dnsmasq"] (Debian's unit sends
	// SIGHUP).
	Reload []string `json:"reload,omitempty"`
	// SSH, when set, reaches the files and commands on the site's DNS host;
	// without it they are on the runner's host.
	SSH *SSH `json:"ssh,omitempty"`

	subnet, subnet6 netip.Prefix
	tr              transport
	mu              sync.Mutex // serializes rewrites of the site's files
	reloadOwed      bool       // a file was replaced but the reload failed (guarded by mu)
	bmu             sync.Mutex // guards batches
	batches         map[file]*batch
}

// path is the file f of the site.
func (s *Site) path(f file) string {
	return [...]string{s.AddnHosts, s.DHCPHostsfile, s.ServersFile}[f]
}

// ErrNotConfigured is returned by Observe and Apply when the runner config
// has no backends.dnsmasq section.
var ErrNotConfigured = steps.NotConfigured("dnsmasq", "backends.dnsmasq.sites")

// Backend manages the dnsmasq kinds. It is safe for concurrent use.
type Backend struct {
	sites map[string]*Site // nil when not configured

	mu      sync.Mutex
	unknown map[string]string // site → why its files could not be read, from the last Observe (guarded by mu)
}

// unknownSite is why site's files could not be read at the last Observe,
// "" when they were (or it was not needed).
func (b *Backend) unknownSite(site string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unknown[site]
}

// New builds the backend from the backends.dnsmasq config section
// (strict; nil = not configured: Decode checks syntax only, Observe and
// Apply fail with ErrNotConfigured). SSH keys and known_hosts files are
// read now; a key is never logged. red is unused: the backend reads no
// secret that could appear in a message.
func New(raw json.RawMessage, _ *steps.Redactor) (*Backend, error) {
	b := &Backend{}
	if len(raw) == 0 || string(raw) == "null" {
		return b, nil
	}
	var c Config
	var p steps.Problems
	p.Add(steps.DecodeStrict(raw, &c))
	if len(c.Sites) == 0 && !p.Has("sites") {
		p.Addf("sites", "name at least one site: sites: { flat1: { domain, subnet, addnHosts, dhcpHostsfile, serversFile, pidFile or reload } }")
	}
	names := slices.Sorted(maps.Keys(c.Sites))
	domains := map[string]string{}
	paths := map[string]string{} // host and path → "site X's field"
	for _, n := range names {
		s := c.Sites[n]
		if s == nil {
			p.Addf("sites."+n, "is null: give the site's settings")
			continue
		}
		p.Add(steps.PrefixFields("sites."+n, s.setup()))
		if s.Domain != "" {
			if o, dup := domains[s.Domain]; dup {
				p.Addf("sites."+n+".domain", "%s is also site %s's domain: each site has its own", s.Domain, o)
			}
			domains[s.Domain] = n
		}
		// Two sites writing one file on one host would each drop the
		// other's lines as foreign keys come and go: refused like two
		// files of one site.
		for _, f := range []struct{ name, path string }{
			{"addnHosts", s.AddnHosts}, {"dhcpHostsfile", s.DHCPHostsfile}, {"serversFile", s.ServersFile},
		} {
			if f.path == "" {
				continue
			}
			k := s.hostName() + "\x00" + f.path
			if o, dup := paths[k]; dup {
				p.Addf("sites."+n+"."+f.name, "%s is also %s (%s): each site needs its own files", f.path, o, s.hostName())
				continue
			}
			paths[k] = fmt.Sprintf("site %s's %s", n, f.name)
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	b.sites = c.Sites
	return b, nil
}

// setup validates a site's settings and prepares its transport.
func (s *Site) setup() error {
	var p steps.Problems
	var err error
	if s.Domain, err = checkName(s.Domain); err != nil {
		p.Addf("domain", "%v", err)
	}
	if s.subnet, err = netip.ParsePrefix(s.Subnet); err != nil || !s.subnet.Addr().Is4() {
		p.Addf("subnet", "want the site's IPv4 network in CIDR notation, e.g. 192.168.1.0/24, got %q", s.Subnet)
	} else {
		s.subnet = s.subnet.Masked()
	}
	if s.Subnet6 != "" {
		if s.subnet6, err = netip.ParsePrefix(s.Subnet6); err != nil || s.subnet6.Addr().Is4() {
			p.Addf("subnet6", "want the site's IPv6 network in CIDR notation, e.g. fd00:1::/64, got %q", s.Subnet6)
		} else {
			s.subnet6 = s.subnet6.Masked()
		}
	}
	seen := map[string]string{}
	for _, f := range []struct{ name, path string }{
		{"addnHosts", s.AddnHosts}, {"dhcpHostsfile", s.DHCPHostsfile}, {"serversFile", s.ServersFile},
	} {
		switch {
		case f.path == "":
			p.Addf(f.name, "is required: the absolute path dnsmasq's configuration names with --%s", optionName(f.name))
		case !path.IsAbs(f.path) || path.Clean(f.path) != f.path:
			p.Addf(f.name, "%q: want a clean absolute path", f.path)
		case seen[f.path] != "":
			p.Addf(f.name, "%s is also %s: the three files must differ", f.path, seen[f.path])
		default:
			seen[f.path] = f.name
		}
	}
	if s.ConfFile == "" {
		s.ConfFile = "/etc/dnsmasq.conf"
	}
	if s.Dnsmasq == "" {
		s.Dnsmasq = "dnsmasq"
	}
	switch {
	case s.PidFile == "" && len(s.Reload) == 0:
		p.Addf("pidFile", "give pidFile (dnsmasq's --pid-file; the runner sends SIGHUP) or reload (a command, e.g. [\"sudo\", \"systemctl\", \"reload\", \"dnsmasq\"])")
	case s.PidFile != "" && len(s.Reload) > 0:
		p.Addf("reload", "give either pidFile or reload, not both")
	case len(s.Reload) > 0 && s.Reload[0] == "":
		p.Addf("reload[0]", "is empty: the program to run")
	}
	if s.SSH != nil {
		t, err := newSSH(s.SSH)
		if err != nil {
			p.Add(steps.PrefixFields("ssh", err))
		} else {
			s.tr = t
		}
	} else {
		s.tr = localFS{}
	}
	return p.Err()
}

// hostName names the host the site's files are on: "the runner's host", or
// the SSH host (lower case; one host under two names is not detected).
func (s *Site) hostName() string {
	if s.SSH == nil {
		return "the runner's host"
	}
	return "host " + strings.ToLower(s.SSH.Host)
}

// optionName is the dnsmasq option of a config field.
func optionName(field string) string {
	return map[string]string{"addnHosts": "addn-hosts", "dhcpHostsfile": "dhcp-hostsfile", "serversFile": "servers-file"}[field]
}

// Name implements steps.Backend.
func (b *Backend) Name() string { return "dnsmasq" }

// Kinds implements steps.Backend.
func (b *Backend) Kinds() []string { return []string{KindHost, KindDHCPHost, KindForward} }

// Decode implements steps.Backend: strict decoding; with a config, the site
// must be configured and addresses must be in its subnet.
func (b *Backend) Decode(kind string, raw json.RawMessage) (steps.Spec, error) {
	return decoder{sites: b.sites}.decode(kind, raw)
}

// DecodeLast decodes a spec as it was last applied (from the inventory):
// its shape only, not checked against the current configuration, so a
// resource on a site that has since left backends.dnsmasq.sites decodes,
// and its delete is blocked with what to do (see Observe) instead of
// failing the run. It is the method of steps.LastDecoder.
func (b *Backend) DecodeLast(kind string, raw json.RawMessage) (steps.Spec, error) {
	return decoder{}.decode(kind, raw)
}

// Rank places dnsmasq records with the other DNS records: after guests and
// identity, before certificates.
func (b *Backend) Rank(string) int { return 30 }

// Identities implements steps.Identifier: a host record is its site and
// name; a reservation its site and MAC, and its site and address (of two
// reservations of one address dnsmasq hands out whichever client asks
// first; two NICs of one machine share a hostname, so that is allowed);
// a forward its site and domain, and each reverse network.
func (b *Backend) Identities(t steps.Target) []string {
	spec := t.Want
	if spec == nil {
		spec = t.Last
	}
	switch s := spec.(type) {
	case HostSpec:
		return []string{s.Site + "/host/" + s.Name}
	case DHCPHostSpec:
		return []string{s.Site + "/dhcp-mac/" + s.MAC, s.Site + "/dhcp-ip/" + s.IP}
	case ForwardSpec:
		ids := []string{s.Site + "/server/" + s.Domain}
		for _, r := range s.Reverse {
			ids = append(ids, s.Site+"/rev-server/"+r)
		}
		return ids
	}
	return nil
}

// site returns a configured site.
func (b *Backend) site(name string) (*Site, error) {
	if b.sites == nil {
		return nil, ErrNotConfigured
	}
	s, ok := b.sites[name]
	if !ok {
		return nil, fmt.Errorf("no site %q in backends.dnsmasq.sites (it has: %s)", name, strings.Join(slices.Sorted(maps.Keys(b.sites)), ", "))
	}
	return s, nil
}

// The interfaces the pipeline and the executor look for.
var (
	_ steps.Backend     = (*Backend)(nil)
	_ steps.Ranker      = (*Backend)(nil)
	_ steps.Identifier  = (*Backend)(nil)
	_ steps.LastDecoder = (*Backend)(nil)

	_ steps.ParallelApplier = (*Backend)(nil)
)
