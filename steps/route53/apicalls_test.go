package route53

import (
	"context"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// TestAPICallsCounted: every request the backend sends goes through the
// process's API-call observer (steps.APITransport), also when the AWS
// configuration names no HTTP client of its own: without AWS_CA_BUNDLE the
// SDK picks its default client only when the Route 53 client is made, which
// the counting must wrap (it once wrapped nil and panicked).
func TestAPICallsCounted(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	if err := os.Unsetenv("AWS_CA_BUNDLE"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := map[int]int{}
	steps.ObserveAPICalls(func(backend, method string, status int, err error) {
		if backend != "route53" || err != nil {
			t.Errorf("observed %s %s: %d %v", backend, method, status, err)
		}
		mu.Lock()
		defer mu.Unlock()
		calls[status]++
	})
	defer steps.ObserveAPICalls(nil)
	e := newEnv(t, sim.Options{}, threeZones, nil)
	ts := e.seed5000()
	e.sim.ResetCounters()
	if _, err := e.b.Observe(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
	c := e.sim.Counters()
	mu.Lock()
	defer mu.Unlock()
	if c.Total == 0 || calls[http.StatusOK] != c.Total {
		t.Errorf("observed %v, the simulator counted %d requests", calls, c.Total)
	}
}
