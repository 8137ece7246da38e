package acme

import (
	"fmt"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

// BenchmarkIssue measures issuing 1 and 20 certificates (two names each)
// in one run against Pebble, the 20 concurrently through the executor
// (bound 20). With a 500 ms delay per TXT publication (Route 53's INSYNC
// wait) the 20 must take about as long as 1: DNS-01 waits do not
// serialize.
func BenchmarkIssue(b *testing.B) {
	for _, tc := range []struct {
		n     int
		delay time.Duration
	}{{1, 0}, {20, 0}, {1, 500 * time.Millisecond}, {20, 500 * time.Millisecond}} {
		b.Run(fmt.Sprintf("certs=%d/publish=%s", tc.n, tc.delay), func(b *testing.B) {
			e := newEnv(b, envOpts{})
			e.solver.delay = tc.delay
			w := &world{b: e.backend(nil), inventory: map[steps.ID]steps.Spec{}}
			// Register the account outside the measurement.
			if _, err := w.b.account(true); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				desired := map[string]string{}
				for j := 0; j < tc.n; j++ {
					name := fmt.Sprintf("c%d-%d", i, j)
					desired[name] = spec(name+".example.com", "*."+name+".example.com")
				}
				w.inventory = map[steps.ID]steps.Spec{}
				r := w.run(b, desired)
				if err := r.failed(); err != nil {
					b.Fatal(err)
				}
				if n := r.plan.Counts()[steps.Create]; n != tc.n {
					b.Fatalf("%d creates, want %d", n, tc.n)
				}
			}
			b.ReportMetric(float64(e.orders.Load())/float64(b.N), "orders/op")
		})
	}
}
