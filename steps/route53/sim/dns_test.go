package sim_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// dig asks the simulator's DNS server one question, like `dig @addr name type`.
func dig(t *testing.T, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("dig %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

// rrs renders a section without TTL-independent noise: "owner TYPE rdata".
func rrs(section []dns.RR) []string {
	var out []string
	for _, rr := range section {
		f := strings.Fields(rr.String())
		out = append(out, f[0]+" "+f[3]+" "+strings.Join(f[4:], " "))
	}
	return out
}

func TestDNSAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{})
	addr := e.listenDNS(t)
	id := e.createZone(t, "example.com")
	sub := e.createZone(t, "sub.example.com")
	e.mustChange(t, id,
		change(types.ChangeActionCreate, rrset("www.example.com", types.RRTypeA, 300, "192.0.2.80", "192.0.2.81")),
		change(types.ChangeActionCreate, rrset("www.example.com", types.RRTypeAaaa, 300, "2001:db8::80")),
		change(types.ChangeActionCreate, rrset("web.example.com", types.RRTypeCname, 300, "cdn.example.com")),
		change(types.ChangeActionCreate, rrset("cdn.example.com", types.RRTypeCname, 300, "www.example.com")),
		change(types.ChangeActionCreate, rrset("ext.example.com", types.RRTypeCname, 300, "host.example.org")),
		change(types.ChangeActionCreate, rrset("example.com", types.RRTypeMx, 300, "10 mail.example.com")),
		change(types.ChangeActionCreate, rrset("example.com", types.RRTypeCaa, 300, `0 issue "letsencrypt.org"`)),
		change(types.ChangeActionCreate, rrset("_sip._tcp.example.com", types.RRTypeSrv, 300, "10 5 5060 sip.example.com")),
		change(types.ChangeActionCreate, rrset("a.deep.example.com", types.RRTypeA, 300, "192.0.2.7")),
		change(types.ChangeActionCreate, rrset("_dmarc.example.com", types.RRTypeTxt, 300, `"v=DMARC1; p=none" "q\"x"`, `"octal \101\102"`)),
		change(types.ChangeActionCreate, rrset("*.apps.example.com", types.RRTypeA, 300, "192.0.2.99")),
		change(types.ChangeActionCreate, &types.ResourceRecordSet{Name: aws.String("example.com"), Type: types.RRTypeA,
			AliasTarget: &types.AliasTarget{HostedZoneId: aws.String(id), DNSName: aws.String("www.example.com")}}),
	)
	e.mustChange(t, sub, change(types.ChangeActionCreate, rrset("x.sub.example.com", types.RRTypeA, 60, "198.51.100.1")))

	type want struct {
		rcode  int
		answer []string
		soa    bool // SOA of the zone in the authority section
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  want
	}{
		{"A", "www.example.com.", dns.TypeA, want{dns.RcodeSuccess, []string{"www.example.com. A 192.0.2.80", "www.example.com. A 192.0.2.81"}, false}},
		{"case-insensitive, case kept", "WWW.Example.COM.", dns.TypeAAAA, want{dns.RcodeSuccess, []string{"WWW.Example.COM. AAAA 2001:db8::80"}, false}},
		{"CNAME chain inside the zone", "web.example.com.", dns.TypeA, want{dns.RcodeSuccess, []string{
			"web.example.com. CNAME cdn.example.com.", "cdn.example.com. CNAME www.example.com.",
			"www.example.com. A 192.0.2.80", "www.example.com. A 192.0.2.81"}, false}},
		{"CNAME asked directly", "web.example.com.", dns.TypeCNAME, want{dns.RcodeSuccess, []string{"web.example.com. CNAME cdn.example.com."}, false}},
		{"CNAME leaving the zone", "ext.example.com.", dns.TypeA, want{dns.RcodeSuccess, []string{"ext.example.com. CNAME host.example.org."}, false}},
		{"alias at the apex", "example.com.", dns.TypeA, want{dns.RcodeSuccess, []string{"example.com. A 192.0.2.80", "example.com. A 192.0.2.81"}, false}},
		{"MX", "example.com.", dns.TypeMX, want{dns.RcodeSuccess, []string{"example.com. MX 10 mail.example.com."}, false}},
		{"CAA", "example.com.", dns.TypeCAA, want{dns.RcodeSuccess, []string{`example.com. CAA 0 issue "letsencrypt.org"`}, false}},
		{"SRV", "_sip._tcp.example.com.", dns.TypeSRV, want{dns.RcodeSuccess, []string{"_sip._tcp.example.com. SRV 10 5 5060 sip.example.com."}, false}},
		{"TXT with ';', quotes and Route 53 octal escapes", "_dmarc.example.com.", dns.TypeTXT, want{dns.RcodeSuccess, []string{
			`_dmarc.example.com. TXT "v=DMARC1; p=none" "q\"x"`, `_dmarc.example.com. TXT "octal AB"`}, false}},
		{"NODATA", "www.example.com.", dns.TypeTXT, want{dns.RcodeSuccess, nil, true}},
		{"NXDOMAIN", "nope.example.com.", dns.TypeA, want{dns.RcodeNameError, nil, true}},
		{"empty non-terminal is NODATA", "deep.example.com.", dns.TypeA, want{dns.RcodeSuccess, nil, true}},
		{"wildcard", "foo.apps.example.com.", dns.TypeA, want{dns.RcodeSuccess, []string{"foo.apps.example.com. A 192.0.2.99"}, false}},
		{"child zone answers for its names", "x.sub.example.com.", dns.TypeA, want{dns.RcodeSuccess, []string{"x.sub.example.com. A 198.51.100.1"}, false}},
		{"not hosted", "example.org.", dns.TypeA, want{dns.RcodeRefused, nil, false}},
	}
	for _, tc := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				r := dig(t, addr, network, tc.qname, tc.qtype)
				if r.Rcode != tc.want.rcode {
					t.Fatalf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.want.rcode])
				}
				if got := rrs(r.Answer); !slices.Equal(got, tc.want.answer) {
					t.Errorf("answer = %q, want %q", got, tc.want.answer)
				}
				gotSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
				if gotSOA != tc.want.soa {
					t.Errorf("authority = %v, want SOA: %v", r.Ns, tc.want.soa)
				}
				if tc.want.rcode != dns.RcodeRefused && !r.Authoritative {
					t.Error("AA flag not set")
				}
			})
		}
	}

	// The apex NS and SOA come from the delegation set.
	ns := dig(t, addr, "udp", "example.com.", dns.TypeNS)
	if len(ns.Answer) != 4 {
		t.Errorf("apex NS answer = %v, want 4 name servers", ns.Answer)
	}
	soa := dig(t, addr, "tcp", "example.com.", dns.TypeSOA)
	if s, ok := soa.Answer[0].(*dns.SOA); !ok || s.Mbox != "awsdns-hostmaster.amazon.com." {
		t.Errorf("apex SOA = %v", soa.Answer)
	}
	if c := e.sim.Counters(); c.DNSQueries != 2*len(tests)+2 {
		t.Errorf("DNS queries counted = %d, want %d", c.DNSQueries, 2*len(tests)+2)
	}
}

// TestDNSSeesChanges follows a DNS-01 challenge record through its life:
// absent, present right after the change (before INSYNC), removed again.
func TestDNSSeesChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{ChangeDelay: 1 << 62})
	addr := e.listenDNS(t)
	id := e.createZone(t, "example.com")
	e.mustChange(t, id, change(types.ChangeActionCreate, rrset("host.example.com", types.RRTypeA, 60, "192.0.2.1")))
	const challenge = "_acme-challenge.host.example.com."
	for _, network := range []string{"udp", "tcp"} {
		if r := dig(t, addr, network, challenge, dns.TypeTXT); r.Rcode != dns.RcodeNameError {
			t.Fatalf("before: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
	}
	ci := e.mustChange(t, id, change(types.ChangeActionUpsert, rrset(challenge, types.RRTypeTxt, 10, `"LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM"`)))
	if ci.Status != types.ChangeStatusPending {
		t.Fatalf("change status %s, want PENDING", ci.Status)
	}
	for _, network := range []string{"udp", "tcp"} {
		r := dig(t, addr, network, challenge, dns.TypeTXT)
		if got := rrs(r.Answer); len(got) != 1 || got[0] != challenge+` TXT "LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM"` {
			t.Fatalf("present over %s: %v", network, r)
		}
		if r.Answer[0].Header().Ttl != 10 {
			t.Errorf("TTL %d, want 10", r.Answer[0].Header().Ttl)
		}
		// NODATA for another type at the same name.
		if r := dig(t, addr, network, challenge, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
			t.Fatalf("A at the challenge name over %s: %v, want NODATA with SOA", network, r)
		}
	}
	_, err := e.change(context.Background(), id, change(types.ChangeActionDelete, rrset(challenge, types.RRTypeTxt, 10, `"LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM"`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"udp", "tcp"} {
		r := dig(t, addr, network, challenge, dns.TypeTXT)
		if r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 || len(r.Ns) != 1 {
			t.Fatalf("after delete over %s: %v, want NXDOMAIN with SOA", network, r)
		}
		soa := r.Ns[0].(*dns.SOA)
		if soa.Hdr.Name != "example.com." || soa.Hdr.Ttl != 900 {
			t.Errorf("negative SOA %v, want example.com. with TTL min(900, 86400)", soa)
		}
	}
	if got := len(e.sim.DNSQueries()); got != 8 {
		t.Errorf("DNS query log has %d entries, want 8", got)
	}
}

func TestDNSTruncatesOverUDP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{})
	addr := e.listenDNS(t)
	id := e.createZone(t, "example.com")
	var vals []string
	for i := 0; i < 40; i++ {
		vals = append(vals, fmt.Sprintf(`"%02d-%s"`, i, strings.Repeat("v", 60)))
	}
	e.mustChange(t, id, change(types.ChangeActionCreate, rrset("big.example.com", types.RRTypeTxt, 60, vals...)))
	udp := dig(t, addr, "udp", "big.example.com.", dns.TypeTXT)
	if !udp.Truncated {
		t.Errorf("UDP answer of %d records not truncated", len(udp.Answer))
	}
	tcp := dig(t, addr, "tcp", "big.example.com.", dns.TypeTXT)
	if tcp.Truncated || len(tcp.Answer) != 40 {
		t.Errorf("TCP answer: truncated %v, %d records, want 40", tcp.Truncated, len(tcp.Answer))
	}
}

// TestDNS01ProviderFlow replays the calls lego's route53 provider makes for
// one DNS-01 challenge (docs/api-facts.md §5) and the TCP TXT query Pebble's VA
// makes (§6), and counts them.
func TestDNS01ProviderFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{})
	addr := e.listenDNS(t)
	e.createZone(t, "example.com")
	e.sim.ResetCounters()
	ctx := context.Background()
	const fqdn = "_acme-challenge.www.example.com."
	const authZone = "example.com."

	// Zone discovery: SOA queries walking up from the fqdn.
	zone := ""
	for name := fqdn; name != "."; name = name[strings.IndexByte(name, '.')+1:] {
		r := dig(t, addr, "udp", name, dns.TypeSOA)
		if len(r.Answer) > 0 {
			zone = r.Answer[0].Header().Name
			break
		}
	}
	if zone != authZone {
		t.Fatalf("SOA walk found %q, want %s", zone, authZone)
	}
	hz, err := e.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String(strings.TrimSuffix(zone, "."))})
	if err != nil || len(hz.HostedZones) == 0 || aws.ToString(hz.HostedZones[0].Name) != authZone || hz.HostedZones[0].Config.PrivateZone {
		t.Fatalf("ListHostedZonesByName: %+v, %v", hz, err)
	}
	zoneID := strings.TrimPrefix(aws.ToString(hz.HostedZones[0].Id), "/hostedzone/")

	existing := func() []types.ResourceRecord {
		out, err := e.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
			HostedZoneId: aws.String(zoneID), StartRecordName: aws.String(fqdn), StartRecordType: types.RRTypeTxt})
		if err != nil {
			t.Fatal(err)
		}
		var recs []types.ResourceRecord
		for _, rs := range out.ResourceRecordSets {
			if aws.ToString(rs.Name) == fqdn {
				recs = append(recs, rs.ResourceRecords...)
			}
		}
		return recs
	}
	waitInsync := func(id *string) {
		for i := 0; ; i++ {
			out, err := e.client.GetChange(ctx, &route53.GetChangeInput{Id: id})
			if err != nil {
				t.Fatal(err)
			}
			if out.ChangeInfo.Status == types.ChangeStatusInsync {
				return
			}
			if i == 10 {
				t.Fatalf("change %s not INSYNC", aws.ToString(id))
			}
		}
	}
	// Present: list, UPSERT with the value added, wait for INSYNC.
	value := `"9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"`
	recs := append(existing(), types.ResourceRecord{Value: aws.String(value)})
	out, err := e.change(ctx, zoneID, change(types.ChangeActionUpsert, &types.ResourceRecordSet{
		Name: aws.String(fqdn), Type: types.RRTypeTxt, TTL: aws.Int64(10), ResourceRecords: recs}))
	if err != nil {
		t.Fatal(err)
	}
	waitInsync(out.ChangeInfo.Id)

	// Pebble's VA: TXT over TCP.
	r := dig(t, addr, "tcp", fqdn, dns.TypeTXT)
	if len(r.Answer) != 1 || !r.Authoritative || r.Answer[0].(*dns.TXT).Txt[0] != strings.Trim(value, `"`) {
		t.Fatalf("VA query: %v", r)
	}

	// CleanUp: list, DELETE with the same TTL and values, wait.
	out, err = e.change(ctx, zoneID, change(types.ChangeActionDelete, &types.ResourceRecordSet{
		Name: aws.String(fqdn), Type: types.RRTypeTxt, TTL: aws.Int64(10), ResourceRecords: existing()}))
	if err != nil {
		t.Fatal(err)
	}
	waitInsync(out.ChangeInfo.Id)
	if r := dig(t, addr, "tcp", fqdn, dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after CleanUp: %v", r)
	}

	c := e.sim.Counters()
	want := map[string]int{sim.OpListHostedZonesByName: 1, sim.OpListResourceRecordSets: 2, sim.OpChangeResourceRecordSets: 2, sim.OpGetChange: 2}
	if c.Total != 7 || !maps.Equal(c.ByOp, want) {
		t.Errorf("API calls = %d %v, want 7 %v", c.Total, c.ByOp, want)
	}
	if c.DNSQueries != 5 { // SOA for _acme-challenge.www, www, example.com; two TXT
		t.Errorf("DNS queries = %d, want 5", c.DNSQueries)
	}
}
