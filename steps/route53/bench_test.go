package route53

import (
	"context"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim/simtest"
)

// BenchmarkObservePlan5000 observes and plans 5000 owned records in 3 zones
// with 20 ms latency per API call; it reports API calls per run.
func BenchmarkObservePlan5000(b *testing.B) {
	e := newEnv(b, sim.Options{}, threeZones, nil)
	ts := e.seed5000()
	slow := sim.New(sim.Options{Latency: 20 * time.Millisecond})
	snap, err := e.sim.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	if err := slow.Restore(snap); err != nil {
		b.Fatal(err)
	}
	e2 := newEnvFor(b, slow)
	b.ResetTimer()
	for b.Loop() {
		slow.ResetCounters()
		live, err := e2.b.Observe(context.Background(), ts)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range ts {
			c, err := e2.b.Diff(t, live[t.ID])
			if err != nil || c.Action != steps.NoOp {
				b.Fatalf("%s: %v %v", t.ID, c.Action, err)
			}
		}
	}
	b.ReportMetric(float64(slow.Counters().Total), "calls/op")
}

// BenchmarkApply1000 creates 1000 records through the executor (concurrency
// 256) with 20 ms latency; it reports API calls and change batches per run.
func BenchmarkApply1000(b *testing.B) {
	var calls, batches int
	for b.Loop() {
		b.StopTimer()
		s := sim.New(sim.Options{Latency: 20 * time.Millisecond, ChangeDelay: 50 * time.Millisecond})
		simtest.Zone(b, s, "mydomain.com")
		e := newEnvFor(b, s)
		p := e.plan(wantAll(e.aSpecs("mydomain.com", 1000))...)
		s.ResetCounters()
		b.StartTimer()
		outs, _ := e.execute(p, 256)
		b.StopTimer()
		mustOK(b, outs)
		calls = s.Counters().Total
		batches = s.Count(sim.OpChangeResourceRecordSets)
		b.StartTimer()
	}
	b.ReportMetric(float64(calls), "calls/op")
	b.ReportMetric(float64(batches), "batches/op")
}
