package simtest_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim/simtest"
)

// TestServe: a zone made with Zone is listed by the simulator, answered
// over DNS at ListenDNS's address, and the API at ListenHTTP's URL answers.
func TestServe(t *testing.T) {
	s := simtest.Start(t, sim.Options{})
	id := simtest.Zone(t, s, "example.com")
	if zs := s.Zones(); len(zs) != 1 || zs[0].ID != id || zs[0].Name != "example.com." {
		t.Fatalf("zones %+v, want example.com. with ID %s", zs, id)
	}
	addr := simtest.Listen(t, s.ListenDNS)
	if _, _, err := net.SplitHostPort(addr); err != nil || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("DNS address %q: %v", addr, err)
	}
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeSOA)
	in, err := dns.Exchange(m, addr)
	if err != nil || len(in.Answer) != 1 {
		t.Fatalf("SOA example.com. at %s: %v %v", addr, in, err)
	}
	u := simtest.Listen(t, s.ListenHTTP)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u+"/2013-04-01/hostedzone", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	_ = resp.Body.Close()
	// Unsigned: the simulator answers, refusing it as Route 53 does.
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Errorf("API at %s answered %d, want 403 to an unsigned request", u, resp.StatusCode)
	}
}
