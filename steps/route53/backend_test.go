package route53

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

var threeZones = []string{"mydomain.com", "example.org", "lab.example.net"}

// seed5000 seeds 5000 A records in e's threeZones (2500, 1500, 1000) and
// returns them as targets the runner owns, unchanged.
func (e *env) seed5000() []steps.Target {
	counts := []int{2500, 1500, 1000}
	var ts []steps.Target
	for i, z := range threeZones {
		e.seed(z, aRecords(z, counts[i])...)
		for _, s := range e.aSpecs(z, counts[i]) {
			ts = append(ts, owned(s, s))
		}
	}
	return ts
}

func TestObserve5000RecordsIn3ZonesInFewCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, threeZones, nil)
	ts := e.seed5000()
	e.sim.ResetCounters()
	live, err := e.b.Observe(context.Background(), ts)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 5000 {
		t.Fatalf("observed %d records, want 5000", len(live))
	}
	c := e.sim.Counters()
	if c.Total > 25 {
		t.Errorf("observe took %d API calls (%v), want ≤ 25", c.Total, c.ByOp)
	}
	if c.ByOp[sim.OpListHostedZonesByName] != 3 {
		t.Errorf("zone lookups = %d, want one per zone (3)", c.ByOp[sim.OpListHostedZonesByName])
	}
	// Everything matches: the plan is all no-ops.
	for _, tg := range ts {
		ch, err := e.b.Diff(tg, live[tg.ID])
		if err != nil {
			t.Fatal(err)
		}
		if ch.Action != steps.NoOp {
			t.Fatalf("%s: %s %v, want noop", tg.ID, ch.Action, ch.Fields)
		}
	}
}

func TestCreateUpdateDeleteThenNoOp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{ChangeDelay: 20 * time.Millisecond}, []string{"mydomain.com"}, nil)
	a := e.spec(`{"zone":"mydomain.com","name":"blog","type":"A","values":["203.0.113.10"]}`)
	mx := e.spec(`{"zone":"mydomain.com","name":"@","type":"MX","ttl":3600,"values":["10 mail.mydomain.com","20 mx2.mydomain.com"]}`)
	txt := e.spec(`{"zone":"mydomain.com","name":"@","type":"TXT","values":["v=spf1 -all","` + strings.Repeat("k", 300) + `"]}`)
	alias := e.spec(`{"zone":"mydomain.com","name":"www","type":"A","alias":{"name":"blog"}}`)

	p := e.plan(want(a), want(mx), want(txt), want(alias))
	if n := actions(p)[steps.Create]; n != 4 {
		t.Fatalf("plan: %v, want 4 creates", actions(p))
	}
	outs, log := e.execute(p, 4)
	mustOK(t, outs)
	if !strings.Contains(strings.Join(log, "\n"), "waiting for INSYNC") {
		t.Errorf("progress lines lack the INSYNC wait:\n%s", strings.Join(log, "\n"))
	}
	recs := e.records("mydomain.com")
	if r := recs["blog.mydomain.com A"]; r.TTL != 300 || len(r.Values) != 1 || r.Values[0] != "203.0.113.10" {
		t.Errorf("blog A = %+v", r)
	}
	if r := recs["mydomain.com TXT"]; len(r.Values) != 2 || !strings.Contains(strings.Join(r.Values, "|"), `"`+strings.Repeat("k", 255)+`" "kkkkk`) {
		t.Errorf("TXT = %q", r.Values)
	}
	if r := recs["www.mydomain.com A"]; r.Alias == nil || r.Alias.DNSName != "blog.mydomain.com." {
		t.Errorf("alias = %+v", r)
	}

	// Second run: nothing to do, and no change calls.
	e.sim.ResetCounters()
	p = e.plan(owned(a, a), owned(mx, mx), owned(txt, txt), owned(alias, alias))
	if p.Changed() != 0 {
		t.Fatalf("second plan: %v", actions(p))
	}
	outs, _ = e.execute(p, 4)
	mustOK(t, outs)
	if n := e.sim.Count(sim.OpChangeResourceRecordSets); n != 0 {
		t.Errorf("a no-op run made %d change calls", n)
	}

	// Update: new TTL and value (UPSERT); delete the MX (owned, left the repo).
	a2 := e.spec(`{"zone":"mydomain.com","name":"blog","type":"A","ttl":60,"values":["203.0.113.20"]}`)
	p = e.plan(owned(a2, a), gone(mx), owned(txt, txt), owned(alias, alias))
	if got := actions(p); got[steps.Update] != 1 || got[steps.Delete] != 1 || got[steps.NoOp] != 2 {
		t.Fatalf("plan: %v", got)
	}
	for _, c := range p.Changes {
		if c.Action == steps.Update && len(c.Fields) != 2 {
			t.Errorf("update fields = %+v, want ttl and values", c.Fields)
		}
	}
	e.sim.ResetCounters()
	outs, _ = e.execute(p, 4)
	mustOK(t, outs)
	if n := e.sim.Count(sim.OpChangeResourceRecordSets); n != 1 {
		t.Errorf("update + delete took %d change calls, want 1 batch", n)
	}
	recs = e.records("mydomain.com")
	if r := recs["blog.mydomain.com A"]; r.TTL != 60 || r.Values[0] != "203.0.113.20" {
		t.Errorf("blog A after update = %+v", r)
	}
	// The MX is deleted; the apex SOA is untouched.
	wantSets(t, recs, map[string]bool{"mydomain.com MX": false, "mydomain.com SOA": true})
}

func TestRenameDeletesTheOldRecordSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com"}, nil)
	old := e.spec(`{"zone":"mydomain.com","name":"git","type":"A","values":["203.0.113.10"]}`)
	outs, _ := e.execute(e.plan(want(old)), 2)
	mustOK(t, outs)
	renamed := e.spec(`{"zone":"mydomain.com","name":"code","type":"A","values":["203.0.113.10"]}`)
	tg := steps.Target{ID: want(old).ID, Want: renamed, Last: old}
	p := e.plan(tg)
	if p.Changes[0].Action != steps.Replace {
		t.Fatalf("plan: %+v", p.Changes[0])
	}
	outs, _ = e.execute(p, 2)
	mustOK(t, outs)
	recs := e.records("mydomain.com")
	wantSets(t, recs, map[string]bool{"git.mydomain.com A": false, "code.mydomain.com A": true})
}

func TestApply1000NewRecordsInFewBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{ChangeDelay: 5 * time.Millisecond}, []string{"mydomain.com"}, nil)
	p := e.plan(wantAll(e.aSpecs("mydomain.com", 1000))...)
	e.sim.ResetCounters()
	// 256 is the runner's largest concurrency (runner config).
	outs, _ := e.execute(p, 256)
	mustOK(t, outs)
	if n := e.sim.Count(sim.OpChangeResourceRecordSets); n > 4 || n < 1 {
		t.Errorf("1000 creates took %d change batches, want ≤ 4", n)
	}
	if n := len(e.records("mydomain.com")); n != 1002 {
		t.Errorf("zone has %d record sets, want 1000 + SOA + NS", n)
	}
}

func TestBatchesRespectLimits(t *testing.T) {
	t.Parallel()
	// 600 UPSERTs count 1200 ResourceRecord elements: more than one batch.
	// The second batch waits until the first is INSYNC (the simulator
	// refuses it otherwise, as Route 53 does).
	// A window long enough that all 600 changes are queued before the
	// first batch goes out, even on a loaded machine: the count of calls
	// is what this test asserts.
	e := newEnv(t, sim.Options{ChangeDelay: 10 * time.Millisecond, RejectWhilePending: true}, []string{"mydomain.com"}, map[string]any{"batchWindow": "500ms"})
	e.seed("mydomain.com", aRecords("mydomain.com", 600)...)
	var ts []steps.Target
	for i, s := range e.aSpecs("mydomain.com", 600) {
		s2 := s
		s2.Values = []string{fmt.Sprintf("192.0.%d.%d", i/256, i%256)}
		ts = append(ts, owned(s2, s))
	}
	p := e.plan(ts...)
	if actions(p)[steps.Update] != 600 {
		t.Fatalf("plan: %v", actions(p))
	}
	e.sim.ResetCounters()
	outs, _ := e.execute(p, 600)
	mustOK(t, outs)
	c := e.sim.Counters()
	if n := c.ByOp[sim.OpChangeResourceRecordSets]; n != 2 || c.Errors != 0 {
		t.Errorf("600 upserts: %d change calls, %d errors; want 2 batches and no errors", n, c.Errors)
	}
}

func TestObserveReportsRecordsTheRunnerDoesNotOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com"}, nil)
	e.seed("mydomain.com", sim.RecordSet{Name: "www.mydomain.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.99"}})
	s := e.spec(`{"zone":"mydomain.com","name":"www","type":"A","values":["203.0.113.10"]}`)
	live, err := e.b.Observe(context.Background(), []steps.Target{want(s)})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := live[want(s).ID].(*Live)
	if !ok || l.Record == nil || l.Record.Values[0] != "192.0.2.99" {
		t.Fatalf("live = %#v, want the existing record set", live[want(s).ID])
	}
	// Adopted (the pipeline allows it with adopt: true), it becomes an update.
	tg := want(s)
	tg.Adopt = true
	c, err := e.b.Diff(tg, live[tg.ID])
	if err != nil || c.Action != steps.Update {
		t.Fatalf("adopt: %v %v", c.Action, err)
	}
}

func TestInvalidChangeIsPinnedToItsRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com"}, nil)
	p := e.plan(wantAll(e.aSpecs("mydomain.com", 20))...)
	// Someone creates host-7 between plan and apply: its CREATE is invalid.
	e.seed("mydomain.com", sim.RecordSet{Name: "host-7.mydomain.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.7"}})
	e.sim.ResetCounters()
	outs, _ := e.execute(p, 20)
	failed := 0
	for _, o := range outs {
		if o.Status == steps.StatusOK {
			continue
		}
		failed++
		if o.ID.Name != "host-7.mydomain.com/A" {
			t.Errorf("%s failed: %v", o.ID, o.Err)
			continue
		}
		msg := o.Err.Error()
		if !strings.Contains(msg, "host-7.mydomain.com A") || !strings.Contains(msg, "already exists") || steps.IsTransient(o.Err) {
			t.Errorf("error = %q (transient %v), want the record name and Route 53's reason, permanent", msg, steps.IsTransient(o.Err))
		}
	}
	if failed != 1 {
		t.Errorf("%d changes failed, want 1", failed)
	}
	if n := len(e.records("mydomain.com")); n != 22 {
		t.Errorf("zone has %d record sets, want 20 + SOA + NS", n)
	}
	if r := e.records("mydomain.com")["host-7.mydomain.com A"]; r.Values[0] != "192.0.2.7" {
		t.Errorf("the foreign record was changed: %+v", r)
	}
	// Bisecting 20 items to one culprit: 1 + 2·⌈log2 20⌉ calls at most.
	if n := e.sim.Count(sim.OpChangeResourceRecordSets); n > 11 {
		t.Errorf("%d change calls to pin one culprit", n)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	t.Parallel()
	for _, f := range []sim.Fault{sim.FaultThrottle, sim.FaultPriorRequest} {
		e := newEnv(t, sim.Options{}, []string{"mydomain.com"}, nil)
		s := e.spec(`{"zone":"mydomain.com","name":"blog","type":"A","values":["203.0.113.10"]}`)
		p := e.plan(want(s))
		// The SDK tries 3 times; the fourth call is the executor's retry.
		e.sim.FailNext(sim.OpChangeResourceRecordSets, f, 3)
		outs, _ := e.execute(p, 1)
		mustOK(t, outs)
		if outs[0].Attempts != 2 {
			t.Errorf("%s: %d attempts, want 2 (the first failed as transient)", f, outs[0].Attempts)
		}
		if n := e.sim.Count(sim.OpChangeResourceRecordSets); n != 4 {
			t.Errorf("%s: %d change calls, want 4", f, n)
		}
		if _, ok := e.records("mydomain.com")["blog.mydomain.com A"]; !ok {
			t.Errorf("%s: record not created", f)
		}
	}
}

func TestTXTSplitServedOverDNS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com"}, nil)
	addr := e.listenDNS()
	long := "v=DKIM1; k=rsa; p=" + strings.Repeat("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", 12) + ` "quoted" ünïcode`
	s := e.spec(fmt.Sprintf(`{"zone":"mydomain.com","name":"mail._domainkey","type":"TXT","values":[%q]}`, long))
	outs, _ := e.execute(e.plan(want(s)), 1)
	mustOK(t, outs)
	m := new(dns.Msg)
	m.SetQuestion("mail._domainkey.mydomain.com.", dns.TypeTXT)
	r, _, err := (&dns.Client{Net: "tcp"}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 {
		t.Fatalf("answer: %v", r.Answer)
	}
	txt := wireTXT(t, r)
	if len(txt) != 2 || len(txt[0]) != 255 || strings.Join(txt, "") != long {
		t.Errorf("TXT strings %d: %q", len(txt), txt)
	}
	// Observed back as the plain string: a no-op.
	if p := e.plan(owned(s, s)); p.Changed() != 0 {
		t.Errorf("second plan: %+v", p.Changes[0].Fields)
	}
}

func TestObserveBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, []string{"mydomain.com", "example.org"}, nil)
	spec := func(js string) steps.Target { return want(e.spec(js)) }
	tests := []struct {
		name string
		ts   []steps.Target
		msg  string
	}{
		{"zone missing", []steps.Target{spec(`{"zone":"nowhere.net","name":"www","type":"A","values":["192.0.2.1"]}`)},
			"nowhere.net not found; the public zones these credentials see: example.org, mydomain.com"},
		{"two resources one set", []steps.Target{
			{ID: steps.ID{Kind: Kind, Name: "a"}, Want: e.spec(`{"zone":"mydomain.com","name":"www","type":"A","values":["192.0.2.1"]}`)},
			{ID: steps.ID{Kind: Kind, Name: "b"}, Want: e.spec(`{"zone":"mydomain.com","name":"www.mydomain.com.","type":"A","values":["192.0.2.2"]}`)},
		}, "route53.record/a and route53.record/b both declare the record set www.mydomain.com A"},
		{"cname beside other types", []steps.Target{
			spec(`{"zone":"mydomain.com","name":"www","type":"CNAME","values":["blog.mydomain.com"]}`),
			spec(`{"zone":"mydomain.com","name":"www","type":"TXT","values":["x"]}`),
		}, "declares a CNAME at www.mydomain.com, which may not have other records, but route53.record/www.mydomain.com/TXT"},
	}
	for _, tc := range tests {
		_, err := e.b.Observe(context.Background(), tc.ts)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v\nwant %q", tc.name, err, tc.msg)
		}
	}
	// A CNAME beside someone else's record: Route 53 refuses it, named.
	e.seed("mydomain.com", sim.RecordSet{Name: "docs.mydomain.com.", Type: "TXT", TTL: 60, Values: []string{`"x"`}})
	outs, _ := e.execute(e.plan(spec(`{"zone":"mydomain.com","name":"docs","type":"CNAME","values":["blog.mydomain.com"]}`)), 1)
	if outs[0].Status != steps.StatusFailed || !strings.Contains(outs[0].Err.Error(), "docs.mydomain.com CNAME") ||
		!strings.Contains(outs[0].Err.Error(), "conflicts with other records") {
		t.Errorf("CNAME beside TXT: %s %v", outs[0].Status, outs[0].Err)
	}
}

func TestNotConfigured(t *testing.T) {
	t.Parallel()
	b, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Observe(context.Background(), nil); !errors.Is(err, ErrNotConfigured) ||
		err.Error() != "backend route53 is not configured: add backends.route53 to the runner config" {
		t.Errorf("Observe: %v", err)
	}
	if _, err := b.Apply(context.Background(), steps.Change{}, nil); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("Apply: %v", err)
	}
	if _, err := NewDNSProvider(nil, nil); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("NewDNSProvider: %v", err)
	}
}

func TestWrongSecretIsNotLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{Credentials: map[string]string{sim.DefaultAccessKeyID: "another-secret-key"}}, []string{"mydomain.com"}, nil)
	s := e.spec(`{"zone":"mydomain.com","name":"www","type":"A","values":["192.0.2.1"]}`)
	_, err := e.b.Observe(context.Background(), []steps.Target{want(s)})
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("observe with a wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), sim.DefaultSecretAccessKey) || steps.IsTransient(err) {
		t.Errorf("error leaks the secret or is transient: %v", err)
	}
}

// wireTXT is the first answer's TXT strings as the wire carries them:
// miekg/dns gives them in presentation format (\DDD escapes),
// golang.org/x/net/dns/dnsmessage as bytes.
func wireTXT(t *testing.T, r *dns.Msg) []string {
	t.Helper()
	wire, err := r.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var p dnsmessage.Parser
	if _, err := p.Start(wire); err != nil {
		t.Fatal(err)
	}
	if err := p.SkipAllQuestions(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AnswerHeader(); err != nil {
		t.Fatal(err)
	}
	txt, err := p.TXTResource()
	if err != nil {
		t.Fatal(err)
	}
	return txt.TXT
}

// TestWithoutCABundle: the AWS SDK's configuration has no HTTP client unless
// AWS_CA_BUNDLE names one; the backend's counted client must then wrap the
// SDK's default, not nil (a nil client crashed the first call of every run
// on a host without AWS_CA_BUNDLE).
func TestWithoutCABundle(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	e := newEnv(t, sim.Options{}, []string{"mydomain.com"}, nil)
	s := e.spec(`{"zone":"mydomain.com","name":"www","type":"A","values":["203.0.113.10"]}`)
	if _, err := e.b.Observe(context.Background(), []steps.Target{want(s)}); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.Counters().Total; n == 0 {
		t.Errorf("observe made no call to the simulator")
	}
}
