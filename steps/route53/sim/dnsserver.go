package sim

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// ListenDNS starts authoritative DNS servers for all hosted zones on addr,
// over UDP and TCP on the same port (Pebble's VA queries over TCP, api-facts
// §6; lego's precheck over UDP, §5). Port 0 picks a free port; the address
// actually used is returned. The servers run until Close.
func (s *Server) ListenDNS(addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("route53 sim: listen dns %s: %w", addr, err)
	}
	var pc net.PacketConn
	var l net.Listener
	for attempt := 0; ; attempt++ {
		pc, err = net.ListenPacket("udp", addr)
		if err != nil {
			return "", fmt.Errorf("route53 sim: listen dns udp %s: %w", addr, err)
		}
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		_ = pc.Close()
		// With port 0 the UDP port may be taken for TCP; try another.
		if port != "0" || attempt == 9 {
			return "", fmt.Errorf("route53 sim: listen dns tcp %s: %w", addr, err)
		}
	}
	servers := []*dns.Server{
		{PacketConn: pc, Net: "udp", Handler: s},
		{Listener: l, Net: "tcp", Handler: s},
	}
	s.lifeMu.Lock()
	if s.closed {
		s.lifeMu.Unlock()
		_ = pc.Close()
		_ = l.Close()
		return "", errors.New("route53 sim: listen dns: server closed")
	}
	started := make(chan struct{}, len(servers))
	for _, d := range servers {
		d.NotifyStartedFunc = func() { started <- struct{}{} }
		s.dnsSrvs = append(s.dnsSrvs, d)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = d.ActivateAndServe() // returns when Close shuts it down
		}()
	}
	s.lifeMu.Unlock()
	for range servers {
		<-started // ShutdownContext refuses servers that have not started yet
	}
	return pc.LocalAddr().String(), nil
}

// ServeDNS answers one DNS query from the live record sets of all hosted zones.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	m := s.answer(req, proto)
	if proto == "udp" {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m) // the client may have gone; nothing to do about it
}

func (s *Server) answer(req *dns.Msg, proto string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = false
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(4096, false)
	}
	if req.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	name, ok := fromDNSName(q.Name)
	z := s.st.findZone(name)
	switch {
	case !ok || q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY:
		m.Rcode = dns.RcodeRefused
	case z == nil:
		// Like Route 53's name servers for a zone they do not host.
		m.Rcode = dns.RcodeRefused
	default:
		s.st.resolve(m, z, name, q.Name, q.Qtype)
	}
	s.more.DNSQueries++
	s.dnsLog.Add(DNSQuery{Time: s.opts.Now(), Net: proto, Name: q.Name,
		Type: dns.TypeToString[q.Qtype], Rcode: dns.RcodeToString[m.Rcode]})
	return m
}

// findZone returns the hosted zone with the longest name containing name
// (the first by ID if several zones share that name).
func (st *state) findZone(name string) *zone {
	var best *zone
	for _, z := range st.zones {
		if !inZone(name, z.name) {
			continue
		}
		if best == nil || len(z.name) > len(best.name) || len(z.name) == len(best.name) && z.id < best.id {
			best = z
		}
	}
	return best
}

// setsAt returns the record sets owned by name.
func (z *zone) setsAt(name string) []*rrset {
	key := sortKey(name)
	i := sort.Search(len(z.sorted), func(i int) bool { return z.sorted[i].key >= key })
	j := i
	for j < len(z.sorted) && z.sorted[j].name == name {
		j++
	}
	return z.sorted[i:j]
}

// hasDescendants reports whether any record set is owned by a name below
// name; such a name without sets of its own is an empty non-terminal (NODATA,
// not NXDOMAIN).
func (z *zone) hasDescendants(name string) bool {
	key := sortKey(name)
	i := sort.Search(len(z.sorted), func(i int) bool { return z.sorted[i].key > key })
	return i < len(z.sorted) && strings.HasPrefix(z.sorted[i].key, key)
}

func (z *zone) exists(name string) bool {
	return len(z.setsAt(name)) > 0 || z.hasDescendants(name)
}

// wildcardFor returns the sets of the wildcard that covers a name that does
// not exist: "*." + its closest encloser (RFC 4592 §3.3.1).
func (z *zone) wildcardFor(name string) []*rrset {
	ce := parentName(name)
	for ce != z.name && !z.exists(ce) {
		ce = parentName(ce)
	}
	return z.setsAt("*." + ce)
}

func findType(sets []*rrset, t string) *rrset {
	for _, s := range sets {
		if s.typ == t {
			return s
		}
	}
	return nil
}

// negativeSOA adds the apex SOA to the authority section of NXDOMAIN and
// NODATA answers, with the TTL RFC 2308 §3 asks for: min(SOA TTL, MINIMUM).
func (z *zone) negativeSOA(m *dns.Msg) {
	s := findType(z.setsAt(z.name), "SOA")
	if s == nil || len(s.rrs) == 0 {
		return
	}
	rr := dns.Copy(s.rrs[0])
	if soa, ok := rr.(*dns.SOA); ok && soa.Minttl < soa.Hdr.Ttl {
		soa.Hdr.Ttl = soa.Minttl
	}
	m.Ns = append(m.Ns, rr)
}

// delegation returns the NS set of the highest zone cut between the apex and
// name (inclusive), if any.
func (z *zone) delegation(name string) *rrset {
	var cuts []string
	for n := name; n != z.name && inZone(n, z.name); n = parentName(n) {
		cuts = append(cuts, n)
	}
	for i := len(cuts) - 1; i >= 0; i-- {
		if ns := findType(z.setsAt(cuts[i]), "NS"); ns != nil {
			return ns
		}
	}
	return nil
}

// maxChain bounds CNAME chains and alias indirections.
const maxChain = 12

// resolve fills m with the authoritative answer for name/qtype in zone z.
// owner is the query name as asked (its case is kept in the answer).
func (st *state) resolve(m *dns.Msg, z *zone, name, owner string, qtype uint16) {
	m.Authoritative = true
	if ns := z.delegation(name); ns != nil && (ns.name != name || qtype != dns.TypeDS) {
		// A referral to a delegated child zone: not authoritative.
		m.Authoritative = false
		m.Ns = append(m.Ns, st.records(ns, dnsName(ns.name), 0)...)
		for _, rr := range ns.rrs {
			if t, ok := rr.(*dns.NS); ok {
				if glue, ok := fromDNSName(t.Ns); ok && inZone(glue, z.name) {
					for _, g := range z.setsAt(glue) {
						if g.typ == "A" || g.typ == "AAAA" {
							m.Extra = append(m.Extra, st.records(g, dnsName(g.name), 0)...)
						}
					}
				}
			}
		}
		return
	}
	qt := dns.TypeToString[qtype]
	for hop := 0; hop < maxChain; hop++ {
		sets := z.setsAt(name)
		if len(sets) == 0 {
			if z.hasDescendants(name) {
				z.negativeSOA(m) // empty non-terminal: NODATA
				return
			}
			sets = z.wildcardFor(name)
			if len(sets) == 0 {
				m.Rcode = dns.RcodeNameError
				z.negativeSOA(m)
				return
			}
		}
		if qtype == dns.TypeANY {
			for _, s := range sets {
				m.Answer = append(m.Answer, st.records(s, owner, 0)...)
			}
			return
		}
		if s := findType(sets, qt); s != nil {
			rrs := st.records(s, owner, 0)
			if len(rrs) == 0 {
				z.negativeSOA(m) // an alias whose target is gone
			}
			m.Answer = append(m.Answer, rrs...)
			return
		}
		cn := findType(sets, "CNAME")
		if cn == nil {
			z.negativeSOA(m)
			return
		}
		rrs := st.records(cn, owner, 0)
		m.Answer = append(m.Answer, rrs...)
		if len(rrs) == 0 {
			return
		}
		c, ok := rrs[0].(*dns.CNAME)
		if !ok {
			return
		}
		target, ok := fromDNSName(c.Target)
		if !ok || !inZone(target, z.name) {
			return // the chain leaves the zone; the resolver continues it
		}
		name, owner = target, dnsName(target)
	}
}

// records materializes a record set with the given owner name. An alias is
// answered with its target's records of the same type (and their TTL), as
// Route 53 does.
func (st *state) records(s *rrset, owner string, depth int) []dns.RR {
	if s.alias != nil {
		tz := st.zones[s.alias.HostedZoneID]
		if tz == nil || depth >= maxChain {
			return nil
		}
		t := findType(tz.setsAt(s.alias.DNSName), s.typ)
		if t == nil {
			return nil
		}
		return st.records(t, owner, depth+1)
	}
	out := make([]dns.RR, 0, len(s.rrs))
	for _, rr := range s.rrs {
		c := dns.Copy(rr)
		c.Header().Name = owner
		out = append(out, c)
	}
	return out
}
