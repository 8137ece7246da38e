package sim_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// BenchmarkList5000Records lists a zone of 5000 record sets (plus apex NS and
// SOA) with the SDK paginator while every call takes 20 ms: 17 pages of 300.
func BenchmarkList5000Records(b *testing.B) {
	e := newEnv(b, sim.Options{})
	id := e.createZone(b, "example.com")
	seed(b, e, id, "example.com", 5000)
	// Latency only for the measured listing; seeding ran without it.
	slow := newEnv(b, sim.Options{Latency: 20 * time.Millisecond})
	snap, err := e.sim.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	if err := slow.sim.Restore(snap); err != nil {
		b.Fatal(err)
	}
	slow.sim.ResetCounters()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := route53.NewListResourceRecordSetsPaginator(slow.client, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id)})
		n := 0
		for _, page := range allPages(b, p) {
			n += len(page.ResourceRecordSets)
		}
		if n != 5002 {
			b.Fatalf("listed %d sets, want 5002", n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(slow.sim.Count(sim.OpListResourceRecordSets))/float64(b.N), "calls/op")
}
