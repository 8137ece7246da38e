package route53

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim/simtest"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// env is a simulator behind httptest and a backend configured for it the
// way the runner would: a JSON config section with secrets in files.
type env struct {
	t   testing.TB
	sim *sim.Server
	url string
	b   *Backend
	red *steps.Redactor
}

// fastRetryer is the SDK's standard retryer without backoff sleeps or the
// client-side retry quota, so tests stay fast and deterministic.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = ratelimit.None
	})
}

// newEnv starts a simulator with zones and a backend for it; extra holds
// more config fields (JSON values).
func newEnv(t testing.TB, opts sim.Options, zones []string, extra map[string]any) *env {
	t.Helper()
	e := newEnvFor(t, sim.New(opts), extra)
	for _, z := range zones {
		simtest.Zone(t, e.sim, z)
	}
	return e
}

// newEnvFor serves a simulator over httptest and configures a backend for it.
func newEnvFor(t testing.TB, s *sim.Server, extra ...map[string]any) *env {
	t.Helper()
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		if err := s.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	dir := t.TempDir()
	for name, v := range map[string]string{"key": sim.DefaultAccessKeyID, "secret": sim.DefaultSecretAccessKey} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := map[string]any{
		"endpoint":        hs.URL,
		"accessKeyId":     map[string]string{"file": filepath.Join(dir, "key")},
		"secretAccessKey": map[string]string{"file": filepath.Join(dir, "secret")},
		"pollInterval":    "2ms",
		"changeTimeout":   "10s",
		"batchWindow":     "30ms",
	}
	for _, x := range extra {
		for k, v := range x {
			cfg[k] = v
		}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	red := &steps.Redactor{}
	b, err := newBackend(raw, red, func(o *r53.Options) { o.Retryer = fastRetryer() })
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, sim: s, url: hs.URL, b: b, red: red}
}

// listenDNS serves the simulator's zones over DNS (UDP and TCP) on a free
// local port and returns its address.
func (e *env) listenDNS() string {
	e.t.Helper()
	return simtest.Listen(e.t, e.sim.ListenDNS)
}

// zoneID returns the simulator's ID of a zone.
func (e *env) zoneID(name string) string {
	e.t.Helper()
	for _, z := range e.sim.Zones() {
		if z.Name == name+"." {
			return z.ID
		}
	}
	e.t.Fatalf("no zone %s", name)
	return ""
}

// seed creates record sets directly in the simulator (someone else's records).
func (e *env) seed(zone string, sets ...sim.RecordSet) {
	e.t.Helper()
	id := e.zoneID(zone)
	for len(sets) > 0 {
		n := min(len(sets), 400) // UPSERT counts double: 800 of 1000
		if err := e.sim.UpsertRecords(id, sets[:n]...); err != nil {
			e.t.Fatal(err)
		}
		sets = sets[n:]
	}
}

// records returns a zone's record sets by "name type" (name without dot).
func (e *env) records(zone string) map[string]sim.RecordSet {
	e.t.Helper()
	rs, err := e.sim.Records(e.zoneID(zone))
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]sim.RecordSet{}
	for _, r := range rs {
		out[strings.TrimSuffix(r.Name, ".")+" "+r.Type] = r
	}
	return out
}

// wantSets fails t for each record set key ("name type", as records gives
// them) that is present in recs when want says false, or missing when true.
func wantSets(t *testing.T, recs map[string]sim.RecordSet, want map[string]bool) {
	t.Helper()
	for key, present := range want {
		if _, ok := recs[key]; ok != present {
			t.Errorf("record set %s: present = %v, want %v", key, ok, present)
		}
	}
}

// spec decodes a spec given as JSON.
func (e *env) spec(js string) Spec {
	e.t.Helper()
	return steptest.Decode(e.t, e.b, Kind, js).(Spec)
}

// want is a desired, not yet owned target.
func want(s Spec) steps.Target {
	return steps.Target{ID: steps.ID{Kind: Kind, Name: s.Name + "/" + s.Type}, Want: s}
}

// wantAll is want of each spec: targets to create.
func wantAll(specs []Spec) []steps.Target {
	ts := make([]steps.Target, len(specs))
	for i, s := range specs {
		ts[i] = want(s)
	}
	return ts
}

// owned is a desired target the runner applied before as last.
func owned(s, last Spec) steps.Target {
	t := want(s)
	t.Last = last
	return t
}

// gone is a target that left the repo.
func gone(last Spec) steps.Target {
	return steps.Target{ID: steps.ID{Kind: Kind, Name: last.Name + "/" + last.Type}, Last: last}
}

// plan observes the targets and diffs each one, as the pipeline does.
func (e *env) plan(ts ...steps.Target) *steps.Plan {
	e.t.Helper()
	live, err := e.b.Observe(context.Background(), ts)
	if err != nil {
		e.t.Fatalf("observe: %v", err)
	}
	p := &steps.Plan{}
	for _, t := range ts {
		c, err := e.b.Diff(t, live[t.ID])
		if err != nil {
			e.t.Fatalf("diff %s: %v", t.ID, err)
		}
		p.Changes = append(p.Changes, c)
	}
	return p
}

// execute applies a plan with the real executor.
func (e *env) execute(p *steps.Plan, concurrency int) ([]steps.Outcome, []string) {
	e.t.Helper()
	reg, err := steps.NewRegistry(e.b)
	if err != nil {
		e.t.Fatal(err)
	}
	var mu sync.Mutex
	var log []string
	outs := steps.Execute(context.Background(), reg, p, steps.ExecOptions{
		Concurrency: concurrency, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		OnEvent: func(ev steps.Event) {
			mu.Lock()
			defer mu.Unlock()
			if ev.Type == steps.EventProgress {
				log = append(log, ev.Message)
			}
		},
	})
	return outs, log
}

// mustOK fails unless every outcome succeeded.
func mustOK(t testing.TB, outs []steps.Outcome) {
	t.Helper()
	for _, o := range outs {
		if o.Status != steps.StatusOK && o.Status != steps.StatusNoOp {
			t.Fatalf("%s %s: %s: %v", o.Action, o.ID, o.Status, o.Err)
		}
	}
}

// actions counts a plan's actions.
func actions(p *steps.Plan) map[steps.Action]int { return p.Counts() }

// aRecords makes n A record sets name-0..n-1 in zone.
func aRecords(zone string, n int) []sim.RecordSet {
	out := make([]sim.RecordSet, n)
	for i := range out {
		out[i] = sim.RecordSet{Name: fmt.Sprintf("host-%d.%s.", i, zone), Type: "A", TTL: 300,
			Values: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}}
	}
	return out
}

// aSpecs are the specs matching aRecords.
func (e *env) aSpecs(zone string, n int) []Spec {
	out := make([]Spec, n)
	for i := range out {
		out[i] = e.spec(fmt.Sprintf(`{"zone":%q,"name":"host-%d","type":"A","values":["10.%d.%d.%d"]}`, zone, i, i>>16&255, i>>8&255, i&255))
	}
	return out
}
