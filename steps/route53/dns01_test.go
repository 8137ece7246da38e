package route53

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

func TestDNSProviderMergesValuesAndCleansUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{ChangeDelay: 10 * time.Millisecond}, []string{"mydomain.com", "lab.mydomain.com"}, nil)
	addr := e.listenDNS()
	p := e.b.DNSProvider()
	if to, iv := p.Timeout(); to != 10*time.Second || iv != 2*time.Millisecond {
		t.Errorf("Timeout() = %s, %s; want the configured 10s, 2ms", to, iv)
	}
	ctx := context.Background()
	const name = "_acme-challenge.mydomain.com."
	query := func() []string {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTXT)
		r, _, err := (&dns.Client{Net: "tcp"}).Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.(*dns.TXT).Txt...)
		}
		slices.Sort(out)
		return out
	}

	// A wildcard and an apex certificate share one challenge name.
	e.sim.ResetCounters()
	for _, v := range []string{"token-apex", "token-wildcard", "token-apex"} {
		if err := p.Present(ctx, name, v); err != nil {
			t.Fatal(err)
		}
	}
	if got := query(); !slices.Equal(got, []string{"token-apex", "token-wildcard"}) {
		t.Errorf("after Present: TXT = %q", got)
	}
	if n := e.sim.Count(sim.OpChangeResourceRecordSets); n != 2 {
		t.Errorf("3 Presents (one repeated) made %d changes, want 2", n)
	}
	if e.sim.Count(sim.OpGetChange) < 2 {
		t.Errorf("Present did not wait for INSYNC")
	}
	if r := e.records("mydomain.com")["_acme-challenge.mydomain.com TXT"]; r.TTL != ChallengeTTL {
		t.Errorf("challenge TTL = %d", r.TTL)
	}

	if err := p.CleanUp(ctx, name, "token-apex"); err != nil {
		t.Fatal(err)
	}
	if got := query(); !slices.Equal(got, []string{"token-wildcard"}) {
		t.Errorf("after one CleanUp: TXT = %q", got)
	}
	if err := p.CleanUp(ctx, name, "token-wildcard"); err != nil {
		t.Fatal(err)
	}
	if got := query(); len(got) != 0 {
		t.Errorf("after CleanUp: TXT = %q", got)
	}
	if _, ok := e.records("mydomain.com")["_acme-challenge.mydomain.com TXT"]; ok {
		t.Error("challenge record set left behind")
	}
	// Cleaning up again is a no-op.
	if err := p.CleanUp(ctx, name, "token-wildcard"); err != nil {
		t.Fatal(err)
	}

	// The longest zone wins: lab.mydomain.com is its own hosted zone.
	if err := p.Present(ctx, "_acme-challenge.nagios.lab.mydomain.com", "t"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.records("lab.mydomain.com")["_acme-challenge.nagios.lab.mydomain.com TXT"]; !ok {
		t.Error("challenge not in the lab.mydomain.com zone")
	}
	if err := p.Present(ctx, "_acme-challenge.example.net.", "t"); err == nil {
		t.Error("Present outside all zones succeeded")
	}
}

func TestDNSProviderRetriesWhileZoneBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com"}, map[string]any{"zones": []string{"mydomain.com"}})
	// More PriorRequestNotComplete answers than the SDK retries (3).
	e.sim.FailNext(sim.OpChangeResourceRecordSets, sim.FaultPriorRequest, 4)
	p, err := NewDNSProvider(nil, nil)
	if err == nil || p != nil {
		t.Fatal("NewDNSProvider without config succeeded")
	}
	if err := e.b.DNSProvider().Present(context.Background(), "_acme-challenge.mydomain.com", "v"); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.Count(sim.OpChangeResourceRecordSets); n != 5 {
		t.Errorf("%d change calls, want 5", n)
	}
	if n := e.sim.Count(sim.OpListHostedZonesByName); n != 1 {
		t.Errorf("%d zone lookups, want 1 (cached)", n)
	}
}

func TestDNSProviderWaitsForTheZonesBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{ChangeDelay: 30 * time.Millisecond, RejectWhilePending: true}, []string{"mydomain.com"}, nil)
	p := e.plan(wantAll(e.aSpecs("mydomain.com", 50))...)
	e.sim.ResetCounters()
	done := make(chan []steps.Outcome)
	go func() {
		outs, _ := e.execute(p, 50)
		done <- outs
	}()
	// Present while the batch gathers or waits for INSYNC.
	time.Sleep(40 * time.Millisecond)
	if err := e.b.DNSProvider().Present(context.Background(), "_acme-challenge.mydomain.com", "v"); err != nil {
		t.Fatal(err)
	}
	mustOK(t, <-done)
	if c := e.sim.Counters(); c.Errors != 0 || c.ByOp[sim.OpChangeResourceRecordSets] != 2 {
		t.Errorf("counters %+v: want 2 changes and no PriorRequestNotComplete", c)
	}
}
