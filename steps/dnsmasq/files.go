package dnsmasq

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// file is one of the three files the runner owns in a site's dnsmasq.
type file int

// The files, by the dnsmasq option that names them (dnsmasq(8)).
const (
	addnHosts     file = iota // --addn-hosts: "<address> <name>..." per line
	dhcpHostsfile             // --dhcp-hostsfile: the text right of '=' of --dhcp-host
	serversFile               // --servers-file: server= and rev-server= lines only
)

// option is the dnsmasq option that names the file.
func (f file) option() string {
	return [...]string{"addn-hosts", "dhcp-hostsfile", "servers-file"}[f]
}

// fileOf is the file a kind's lines are in.
func fileOf(kind string) file {
	switch kind {
	case KindDHCPHost:
		return dhcpHostsfile
	case KindForward:
		return serversFile
	}
	return addnHosts
}

// header starts a file the runner creates. All three files take '#'
// comments: hosts files by their format, the other two because dnsmasq
// reads them with its configuration-file reader. It says what edit does:
// other lines are kept, except those with the key of a resource (see
// lineKey), which are that resource's lines.
const header = `# Managed by gitops-runner: it adds and removes the lines of the resources of the infra repo.
# Other lines are kept, except a line for a host name, MAC, forwarded domain or reverse network
# that a resource declares: that line is the resource's, and the runner rewrites it.
# Put hand-written settings in another file of dnsmasq's configuration.
`

// lineKey is what a line of f is about, so the runner can find the lines of
// one resource: "host:<name>" (the first name of a hosts line),
// "mac:<mac>" (a dhcp-host line), "server:<domain>" or "rev:<cidr>". A
// comment, blank or unparsable line has key "" and is left as it is.
func lineKey(f file, line string) string {
	t := strings.TrimSpace(line)
	if t == "" || strings.HasPrefix(t, "#") {
		return ""
	}
	switch f {
	case addnHosts:
		fs := strings.Fields(t)
		if len(fs) < 2 {
			return ""
		}
		return "host:" + strings.TrimSuffix(strings.ToLower(fs[1]), ".")
	case dhcpHostsfile:
		first, _, _ := strings.Cut(t, ",")
		if m, err := normMAC(first); err == nil {
			return "mac:" + m
		}
		return ""
	default:
		if rest, ok := strings.CutPrefix(t, "server=/"); ok {
			dom, _, ok := strings.Cut(rest, "/")
			if ok && !strings.Contains(dom, "/") {
				return "server:" + strings.Trim(strings.ToLower(dom), ".")
			}
			return ""
		}
		if rest, ok := strings.CutPrefix(t, "rev-server="); ok {
			net, _, _ := strings.Cut(rest, ",")
			if p, err := netip.ParsePrefix(net); err == nil {
				return "rev:" + p.Masked().String()
			}
		}
		return ""
	}
}

// lines renders a spec as the lines of its file, in a fixed order.
func lines(spec any) []string {
	switch s := spec.(type) {
	case HostSpec:
		var out []string
		if s.IPv4 != "" {
			out = append(out, s.IPv4+" "+s.Name)
		}
		if s.IPv6 != "" {
			out = append(out, s.IPv6+" "+s.Name)
		}
		return out
	case DHCPHostSpec:
		return []string{s.MAC + "," + s.IP + "," + s.Hostname}
	case ForwardSpec:
		srv := serverAddr(s.Server, s.Port)
		out := []string{"server=/" + s.Domain + "/" + srv}
		for _, r := range s.Reverse {
			out = append(out, "rev-server="+r+","+srv)
		}
		return out
	}
	return nil
}

// keys are the line keys a spec's lines have (see lineKey).
func keys(spec any) []string {
	switch s := spec.(type) {
	case HostSpec:
		return []string{"host:" + s.Name}
	case DHCPHostSpec:
		return []string{"mac:" + s.MAC}
	case ForwardSpec:
		ks := []string{"server:" + s.Domain}
		for _, r := range s.Reverse {
			ks = append(ks, "rev:"+r)
		}
		return ks
	}
	return nil
}

// siteOf is a spec's site.
func siteOf(spec any) string {
	switch s := spec.(type) {
	case HostSpec:
		return s.Site
	case DHCPHostSpec:
		return s.Site
	case ForwardSpec:
		return s.Site
	}
	return ""
}

// splitLines splits a file's content into lines without their newlines.
func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// edit rewrites a file's content: the lines whose key is in drop go, add
// is appended. A file that did not exist gets the header first. It reports
// whether the content changed.
func edit(content []byte, f file, drop []string, add []string) ([]byte, bool) {
	old := splitLines(content)
	var out []string
	if len(content) == 0 {
		out = splitLines([]byte(header))
	}
	for _, l := range old {
		if k := lineKey(f, l); k != "" && slices.Contains(drop, k) {
			continue
		}
		out = append(out, l)
	}
	out = append(out, add...)
	b := []byte(strings.Join(out, "\n") + "\n")
	return b, string(b) != string(content)
}

// parseSpec reads back the spec that lines of one resource express (the
// live side of a diff). Lines the runner would not write are kept as they
// read in the spec's nearest form.
func parseSpec(kind, site string, ls []string) any {
	switch kind {
	case KindHost:
		s := HostSpec{Site: site}
		for _, l := range ls {
			fs := strings.Fields(l)
			if len(fs) < 2 {
				continue
			}
			s.Name = strings.TrimSuffix(strings.ToLower(fs[1]), ".")
			if a, err := netip.ParseAddr(fs[0]); err == nil && a.Is4() {
				s.IPv4 = a.String()
			} else {
				s.IPv6 = fs[0]
			}
		}
		return s
	case KindDHCPHost:
		s := DHCPHostSpec{Site: site}
		for _, l := range ls {
			parts := strings.Split(strings.TrimSpace(l), ",")
			s.MAC, _ = normMAC(parts[0])
			for _, p := range parts[1:] {
				if a, err := netip.ParseAddr(p); err == nil {
					s.IP = a.String()
				} else if s.Hostname == "" {
					s.Hostname = p
				}
			}
		}
		return s
	default:
		s := ForwardSpec{Site: site}
		for _, l := range ls {
			t := strings.TrimSpace(l)
			if rest, ok := strings.CutPrefix(t, "server=/"); ok {
				dom, srv, _ := strings.Cut(rest, "/")
				s.Domain = strings.Trim(strings.ToLower(dom), ".")
				s.Server, s.Port = splitServer(srv)
			} else if rest, ok := strings.CutPrefix(t, "rev-server="); ok {
				net, srv, _ := strings.Cut(rest, ",")
				if p, err := netip.ParsePrefix(net); err == nil {
					s.Reverse = append(s.Reverse, p.Masked().String())
				}
				if s.Server == "" {
					s.Server, s.Port = splitServer(srv)
				}
			}
		}
		return s
	}
}

// splitServer splits "ip#port" (dnsmasq's server syntax).
func splitServer(s string) (string, int) {
	ip, port, ok := strings.Cut(s, "#")
	if !ok {
		return ip, 0
	}
	n, err := strconv.Atoi(port)
	if err != nil || n == 53 {
		return ip, 0
	}
	return ip, n
}

// checkConf turns the content of f into lines of a configuration file that
// `dnsmasq --test` checks: hosts lines as host-record=, dhcp-host lines as
// dhcp-host=, servers lines as they are (a --servers-file is
// configuration-file syntax). dnsmasq --test itself does not read the
// files named by --addn-hosts, --dhcp-hostsfile or --servers-file (checked
// with dnsmasq 2.90: garbage in them still passes), hence this.
func checkConf(f file, content []byte) string {
	var b strings.Builder
	for _, l := range splitLines(content) {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		switch f {
		case addnHosts:
			fs := strings.Fields(t)
			if len(fs) >= 2 {
				fmt.Fprintf(&b, "host-record=%s,%s\n", strings.Join(fs[1:], ","), fs[0])
			} else {
				fmt.Fprintf(&b, "host-record=%s\n", t) // malformed: let dnsmasq say so
			}
		case dhcpHostsfile:
			fmt.Fprintf(&b, "dhcp-host=%s\n", t)
		default:
			b.WriteString(t + "\n")
		}
	}
	return b.String()
}
