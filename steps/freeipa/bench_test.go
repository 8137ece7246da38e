package freeipa_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// BenchmarkObservePlan500Hosts observes and plans 500 hosts and 50 host
// groups (all in sync) against the simulator with 20 ms per request, and
// reports the JSON-RPC calls per run.
func BenchmarkObservePlan500Hosts(b *testing.B) {
	l := newLab(b, nil, nil)
	var targets []steps.Target
	add := func(kind, name, spec string) {
		s := steptest.Decode(b, l.b, kind, spec)
		targets = append(targets, steps.Target{ID: steps.ID{Kind: kind, Name: name}, Want: s, Last: s})
	}
	for g := range 50 {
		name := fmt.Sprintf("g%02d", g)
		l.seed(l.sim.AddHostGroup(name))
		add(freeipa.KindHostGroup, name, fmt.Sprintf(`{"name":%q}`, name))
	}
	for i := range 500 {
		fqdn := fmt.Sprintf("h%03d.example.test", i)
		l.seed(l.sim.AddHost(fqdn, i%2 == 0))
		l.call("hostgroup_add_member", []any{fmt.Sprintf("g%02d", i%50)}, map[string]any{"host": []string{fqdn}})
		add(freeipa.KindHost, fqdn, fmt.Sprintf(`{"fqdn":%q,"hostGroups":["g%02d"]}`, fqdn, i%50))
	}
	l.call("ping", nil, nil) // logged in
	l.sim.SetLatency(20 * time.Millisecond)
	l.sim.ResetCounters()
	b.ResetTimer()
	for b.Loop() {
		live, err := l.b.Observe(ctx(b), targets)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range targets {
			c, err := l.b.Diff(t, live[t.ID])
			if err != nil || c.Action != steps.NoOp {
				b.Fatalf("%s: %s %v %v", t.ID, c.Action, c.Fields, err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(l.sim.Counters().Total)/float64(b.N), "calls/op")
}
