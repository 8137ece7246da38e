package dnsmasq_test

import (
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// A push declaring the forwarding between four sites and a host on flat1,
// through the real pipeline into four real dnsmasq instances: every site
// resolves the host's name and its reverse; a second run writes nothing;
// removing the host removes its lines, and every site answers NXDOMAIN.
// The hand-written file of each site's conf-dir is never touched.
func TestPipelineSitesResolveEachOther(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	hand := map[string]snapshot{}
	for _, s := range l.sites {
		hand[s.name] = snap(t, s.handWritten)
	}
	p := pipelinetest.New(t, steps.ExecOptions{Concurrency: 8, Backoff: 1, MaxBackoff: 1}, l.backend())
	// The sites declared once with the lib; the forwarding between them
	// and the guest's records generated from that.
	main := func(withHost bool) string {
		host := ""
		if withHost {
			host = ", flat1.guest('web', '10.18.2.5')"
		}
		return "local r = import 'runner.libsonnet';\n" + l.sitesJsonnet() + "r.output([dnsmasq.forwarding(sites)" + host + "])\n"
	}
	p.In.Push("sites and web", map[string]string{"main.jsonnet": main(true)})
	rep := p.Run()
	// 4×3 forwards, the host, the reservation.
	if rep.Result != pipeline.ResultOK || rep.Counts["create"] != 14 {
		t.Fatalf("first run: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	l.waitAnswer("web.flat1.int.mydomain", dns.TypeA, "10.18.2.5")
	l.waitAnswer("5.2.18.10.in-addr.arpa", dns.TypePTR, "web.flat1.int.mydomain.")
	flat1 := l.site("flat1")
	// The MAC the lib derives from the name: 02 and the first five bytes
	// of md5("web.flat1.int.mydomain").
	if got := read(t, flat1.dhcpHosts); !strings.Contains(got, "\n"+libMAC("web.flat1.int.mydomain")+",10.18.2.5,web\n") {
		t.Errorf("flat1 dhcp-hosts:\n%s", got)
	}
	hetzner := l.site("hetzner")
	if got := read(t, hetzner.servers); strings.Count(got, "server=/") != 3 || strings.Count(got, "rev-server=") != 3 ||
		!strings.Contains(got, "rev-server=10.18.2.0/24,127.0.18.2#") {
		t.Errorf("hetzner servers-file:\n%s", got)
	}
	files := map[string]snapshot{}
	for _, f := range []string{flat1.hosts, flat1.dhcpHosts, hetzner.servers, flat1.servers} {
		files[f] = snap(t, f)
	}

	rep = p.Run()
	if rep.Result != pipeline.ResultOK || rep.Changed != 0 {
		t.Fatalf("second run: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	for f, s := range files {
		if !snap(t, f).same(s) {
			t.Errorf("second run rewrote %s", f)
		}
	}

	p.In.Push("web leaves", map[string]string{"main.jsonnet": main(false)})
	rep = p.Run()
	if rep.Result != pipeline.ResultOK || rep.Counts["delete"] != 2 || rep.Changed != 2 {
		t.Fatalf("third run: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	l.waitAnswer("web.flat1.int.mydomain", dns.TypeA, "")
	l.waitAnswer("5.2.18.10.in-addr.arpa", dns.TypePTR, "")
	for _, s := range l.sites {
		for _, f := range []string{s.hosts, s.dhcpHosts} {
			if got := read(t, f); strings.Contains(got, "web") {
				t.Errorf("%s still has web:\n%s", f, got)
			}
		}
		if !snap(t, s.handWritten).same(hand[s.name]) {
			t.Errorf("%s was touched", s.handWritten)
		}
		// And dnsmasq still serves it.
		r, err := query(s.addr, l.port, "handwritten."+s.domain, dns.TypeTXT)
		if got := answer(r, err); got != "kept" {
			t.Errorf("site %s: handwritten TXT = %q", s.name, got)
		}
	}
}

// A push with a bad reservation (a MAC that is no Ethernet address, an
// address outside the site's subnet) and two reservations of one MAC is
// refused by the push-time check, naming file, resource and field; the
// run applies nothing and no site's file is written.
func TestPushTimeErrors(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	p := pipelinetest.New(t, steps.ExecOptions{Backoff: 1, MaxBackoff: 1}, l.backend())
	commit := p.In.Push("bad", map[string]string{"main.jsonnet": "local r = import 'runner.libsonnet';\n" + l.sitesJsonnet() + `r.output([
  flat1.reservation('a', '10.18.2.5', { mac: '02:00:5e:10:00:0g' }),
  flat1.reservation('b', '10.18.9.5'),
  flat1.reservation('c', '10.18.2.6', { mac: flat1.mac('b') }),
])
`})
	res, err := p.Runner.Check(t.Context(), commit, pipeline.Push{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range res.Errors {
		got = append(got, d.String())
	}
	text := strings.Join(got, "\n")
	t.Logf("push check:\n%s", text)
	for _, want := range []string{
		`dnsmasq.dhcpHost/a.flat1.int.mydomain`, `field spec.mac: "02:00:5e:10:00:0g" is not an Ethernet address`,
		`dnsmasq.dhcpHost/b.flat1.int.mydomain`, `field spec.ip: 10.18.9.5 is outside site flat1's subnet 10.18.2.0/24`,
		"main.jsonnet",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("check errors lack %q:\n%s", want, text)
		}
	}
	// The MAC clash is found once the specs decode.
	commit = p.In.Push("clash", map[string]string{"main.jsonnet": "local r = import 'runner.libsonnet';\n" + l.sitesJsonnet() + `r.output([
  flat1.reservation('b', '10.18.2.5'),
  flat1.reservation('c', '10.18.2.6', { mac: flat1.mac('b') }),
])
`})
	res, err = p.Runner.Check(t.Context(), commit, pipeline.Push{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].String(), "dnsmasq.dhcpHost/b.flat1.int.mydomain (desired), dnsmasq.dhcpHost/c.flat1.int.mydomain (desired)") ||
		!strings.Contains(res.Errors[0].String(), "dnsmasq:flat1/dhcp-mac/"+libMAC("b.flat1.int.mydomain")) {
		t.Errorf("clash: %v", res.Errors)
	}
	rep := p.Run()
	if rep.Result == pipeline.ResultOK || rep.Changed != 0 {
		t.Errorf("run: %s", rep.Summary)
	}
	if _, err := os.Stat(l.site("flat1").dhcpHosts); !os.IsNotExist(err) {
		t.Errorf("flat1's dhcp-hosts file was written: %v", err)
	}
}
