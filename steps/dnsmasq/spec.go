package dnsmasq

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gitops-runner/gitops-runner/steps"
)

// The resource kinds of the dnsmasq backend.
const (
	// KindHost is a host record: one line per address in the site's
	// --addn-hosts file, "<address> <name>".
	KindHost = "dnsmasq.host"
	// KindDHCPHost is a DHCP reservation: one line in the site's
	// --dhcp-hostsfile, "<mac>,<ipv4>,<hostname>" (the text right of '=' of
	// --dhcp-host, dnsmasq(8)).
	KindDHCPHost = "dnsmasq.dhcpHost"
	// KindForward forwards another site's domain and reverse zones to its
	// DNS server: lines "server=/<domain>/<ip>[#<port>]" and
	// "rev-server=<cidr>,<ip>[#<port>]" in the site's --servers-file.
	KindForward = "dnsmasq.forward"
)

// HostSpec is a dnsmasq.host: a name and its addresses, served by the
// site's dnsmasq from its --addn-hosts file, forward and reverse.
type HostSpec struct {
	// Site names the site in backends.dnsmasq.sites whose dnsmasq serves it.
	Site string `json:"site"`
	// Name is the fully qualified host name, lower case, without the
	// trailing dot ("web.flat1.int.mydomain").
	Name string `json:"name"`
	// IPv4 and IPv6 are the addresses (at least one), canonical form.
	IPv4 string `json:"ipv4,omitempty"`
	IPv6 string `json:"ipv6,omitempty"`
}

// DHCPHostSpec is a dnsmasq.dhcpHost: a DHCP reservation of the site's
// dnsmasq, from its --dhcp-hostsfile.
type DHCPHostSpec struct {
	// Site names the site in backends.dnsmasq.sites.
	Site string `json:"site"`
	// MAC is the client's Ethernet address, lower case, colon-separated
	// ("02:1a:2b:3c:4d:5e").
	MAC string `json:"mac"`
	// IP is the reserved IPv4 address.
	IP string `json:"ip"`
	// Hostname is the name dnsmasq gives the client: one label, lower case
	// (dnsmasq adds the site's --domain).
	Hostname string `json:"hostname"`
}

// ForwardSpec is a dnsmasq.forward: the site's dnsmasq sends queries for
// Domain, and reverse queries for the Reverse networks, to Server.
type ForwardSpec struct {
	// Site names the site in backends.dnsmasq.sites whose dnsmasq forwards.
	Site string `json:"site"`
	// Domain is the forwarded domain, lower case, without dots at either end.
	Domain string `json:"domain"`
	// Server is the IP address of the DNS server that answers for Domain.
	Server string `json:"server"`
	// Port is the server's DNS port; 0 means 53.
	Port int `json:"port,omitempty"`
	// Reverse are the networks (CIDR, canonical, sorted as given) whose
	// reverse zones are forwarded too: one rev-server line each.
	Reverse []string `json:"reverse,omitempty"`
}

// macRE is a MAC address as dnsmasq's --dhcp-host takes it: six pairs of
// hex digits separated by colons (or dashes, which we normalize).
var macRE = regexp.MustCompile(`^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$`)

// labelRE is one DNS label as RFC 1123 allows for host names.
var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkName validates a host or domain name (labels of RFC 1123, at most
// 253 characters) and returns it lower case without a trailing dot.
func checkName(s string) (string, error) {
	n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if n == "" {
		return "", fmt.Errorf("is required")
	}
	if len(n) > 253 {
		return "", fmt.Errorf("%q is longer than 253 characters", s)
	}
	for _, l := range strings.Split(n, ".") {
		if !labelRE.MatchString(l) {
			return "", fmt.Errorf("%q is not a host name: label %q must be letters, digits and inner hyphens, 1–63 characters", s, l)
		}
	}
	return n, nil
}

// decoder holds what decoding checks against: the configured sites (nil
// when the backend has no config section: then only the syntax is checked).
type decoder struct {
	sites map[string]*Site
}

// site checks the site field and returns its config (nil when unknown or
// the backend is not configured).
func (d decoder) site(name string, p *steps.Problems) *Site {
	switch {
	case name == "":
		p.Addf("site", "is required: the name of a site in backends.dnsmasq.sites")
		return nil
	case d.sites == nil:
		return nil
	}
	s, ok := d.sites[name]
	if !ok {
		p.Addf("site", "no site %q in backends.dnsmasq.sites of the runner config (it has: %s)", name, strings.Join(slices.Sorted(maps.Keys(d.sites)), ", "))
	}
	return s
}

// decode strictly decodes and validates a spec of kind.
func (d decoder) decode(kind string, raw json.RawMessage) (steps.Spec, error) {
	switch kind {
	case KindHost:
		return decodeAs(raw, d.checkHost)
	case KindDHCPHost:
		return decodeAs(raw, d.checkDHCPHost)
	case KindForward:
		return decodeAs(raw, d.checkForward)
	}
	return nil, fmt.Errorf("kind %s is not a dnsmasq kind", kind)
}

// decodeAs strictly decodes raw into a T and validates it with check,
// which returns the normalized spec and records problems in c. Every
// problem is reported: the decoding's, then the checks' on fields that
// decoded.
func decodeAs[T any](raw json.RawMessage, check func(in T, c *steps.Problems) T) (steps.Spec, error) {
	var in T
	var p, c steps.Problems
	if err := p.Decode(raw, &in); err != nil {
		return nil, err // not an object: nothing to check
	}
	s := check(in, &c)
	p.AddNew(c.Err())
	if err := p.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

func (d decoder) checkHost(in HostSpec, c *steps.Problems) HostSpec {
	s := HostSpec{Site: in.Site}
	site := d.site(in.Site, c)
	var err error
	if s.Name, err = checkName(in.Name); err != nil {
		c.Addf("name", "%v", err)
	}
	if in.IPv4 == "" && in.IPv6 == "" {
		c.Addf("ipv4", "give ipv4, ipv6 or both: a host record needs an address")
	}
	if in.IPv4 != "" {
		a, err := netip.ParseAddr(in.IPv4)
		switch {
		case err != nil || !a.Is4():
			c.Addf("ipv4", "%q is not an IPv4 address", in.IPv4)
		case site != nil && !site.subnet.Contains(a):
			c.Addf("ipv4", "%s is outside site %s's subnet %s", a, in.Site, site.subnet)
		default:
			s.IPv4 = a.String()
		}
	}
	if in.IPv6 != "" {
		a, err := netip.ParseAddr(in.IPv6)
		switch {
		case err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "":
			c.Addf("ipv6", "%q is not an IPv6 address", in.IPv6)
		case site != nil && site.subnet6.IsValid() && !site.subnet6.Contains(a):
			c.Addf("ipv6", "%s is outside site %s's subnet6 %s", a, in.Site, site.subnet6)
		default:
			s.IPv6 = a.String()
		}
	}
	return s
}

func (d decoder) checkDHCPHost(in DHCPHostSpec, c *steps.Problems) DHCPHostSpec {
	s := DHCPHostSpec{Site: in.Site}
	site := d.site(in.Site, c)
	if m, err := normMAC(in.MAC); err != nil {
		c.Addf("mac", "%v", err)
	} else {
		s.MAC = m
	}
	a, err := netip.ParseAddr(in.IP)
	switch {
	case in.IP == "":
		c.Addf("ip", "is required: the reserved IPv4 address")
	case err != nil || !a.Is4():
		c.Addf("ip", "%q is not an IPv4 address (DHCPv4 reservations only)", in.IP)
	case site != nil && !site.subnet.Contains(a):
		c.Addf("ip", "%s is outside site %s's subnet %s", a, in.Site, site.subnet)
	case site != nil && (a == site.subnet.Masked().Addr() || a == lastAddr(site.subnet)):
		c.Addf("ip", "%s is the network or broadcast address of %s", a, site.subnet)
	default:
		s.IP = a.String()
	}
	h := strings.ToLower(strings.TrimSpace(in.Hostname))
	switch {
	case h == "":
		c.Addf("hostname", "is required: the client's name, one label such as \"web\"")
	case !labelRE.MatchString(h):
		c.Addf("hostname", "%q is not one host name label (letters, digits, inner hyphens; dnsmasq adds the domain)", in.Hostname)
	default:
		s.Hostname = h
	}
	return s
}

func (d decoder) checkForward(in ForwardSpec, c *steps.Problems) ForwardSpec {
	s := ForwardSpec{Site: in.Site, Port: in.Port}
	site := d.site(in.Site, c)
	dom, err := checkName(in.Domain)
	switch {
	case err != nil:
		c.Addf("domain", "%v", err)
	case site != nil && site.Domain != "" && (dom == site.Domain || strings.HasSuffix(site.Domain, "."+dom)):
		c.Addf("domain", "%s is site %s's own domain (or contains it): a site does not forward its own names", dom, in.Site)
	default:
		s.Domain = dom
	}
	a, err := netip.ParseAddr(in.Server)
	switch {
	case in.Server == "":
		c.Addf("server", "is required: the IP address of the DNS server that answers for the domain")
	case err != nil || a.Zone() != "":
		c.Addf("server", "%q is not an IP address", in.Server)
	default:
		s.Server = a.Unmap().String()
	}
	if in.Port < 0 || in.Port > 65535 {
		c.Addf("port", "%d is out of range 1–65535 (0 or absent: 53)", in.Port)
	}
	if in.Port == 53 {
		s.Port = 0
	}
	seen := map[netip.Prefix]bool{}
	for i, r := range in.Reverse {
		f := fmt.Sprintf("reverse[%d]", i)
		pr, err := netip.ParsePrefix(r)
		switch {
		case err != nil:
			c.Addf(f, "%q is not a network in CIDR notation, e.g. 192.168.1.0/24", r)
		case pr != pr.Masked():
			c.Addf(f, "%s has host bits set: the network is %s", r, pr.Masked())
		case seen[pr]:
			c.Addf(f, "duplicate network %s", pr)
		case site != nil && (pr.Overlaps(site.subnet) || (site.subnet6.IsValid() && pr.Overlaps(site.subnet6))):
			c.Addf(f, "%s overlaps site %s's own subnet: a site does not forward its own reverse zone", pr, in.Site)
		default:
			seen[pr] = true
			s.Reverse = append(s.Reverse, pr.String())
		}
	}
	return s
}

// normMAC returns a MAC address lower case and colon-separated.
func normMAC(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("is required: the client's Ethernet address, e.g. 02:1a:2b:3c:4d:5e")
	}
	if !macRE.MatchString(s) {
		return "", fmt.Errorf("%q is not an Ethernet address: want six hex pairs, e.g. 02:1a:2b:3c:4d:5e", s)
	}
	hw, err := net.ParseMAC(strings.ReplaceAll(s, "-", ":"))
	if err != nil {
		return "", fmt.Errorf("%q is not an Ethernet address: %w", s, err)
	}
	if hw[0]&1 == 1 {
		return "", fmt.Errorf("%s is a multicast address: a client's address has the low bit of the first octet clear", s)
	}
	return hw.String(), nil
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// serverAddr is a server address as dnsmasq writes it: "ip" or "ip#port".
func serverAddr(ip string, port int) string {
	if port == 0 || port == 53 {
		return ip
	}
	return ip + "#" + strconv.Itoa(port)
}
