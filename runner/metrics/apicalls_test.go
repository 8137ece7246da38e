package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/promtest"
	"github.com/gitops-runner/gitops-runner/runner/monitor"
	"github.com/gitops-runner/gitops-runner/steps"
)

// TestAPICalls: calls through steps.APITransport reach the process's
// observer and are counted by backend, method and outcome; flushes at once
// (goroutines here, processes in the runner) add up in the file, and the
// collector exports what the server itself counted.
func TestAPICalls(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/broken":
			http.Error(w, "boom", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused: an error outcome

	file := APICallsFile(t.TempDir())
	var calls APICalls
	steps.ObserveAPICalls(calls.Observe)
	defer steps.ObserveAPICalls(nil)
	hc := &http.Client{Transport: steps.APITransport("proxmox", http.DefaultTransport)}
	const procs, rounds = 4, 5
	var wg sync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				for _, req := range []struct{ method, path string }{{"GET", "/ok"}, {"POST", "/ok"}, {"GET", "/missing"}, {"PUT", "/broken"}} {
					r, _ := http.NewRequest(req.method, srv.URL+req.path, nil)
					res, err := hc.Do(r)
					if err != nil {
						t.Error(err)
						continue
					}
					_ = res.Body.Close()
				}
				if res, err := hc.Get(deadURL); err == nil {
					_ = res.Body.Close()
					t.Error("a closed server answered")
				}
				if err := calls.Flush(file); err != nil {
					t.Errorf("process %d: %v", p, err)
				}
			}
		}()
	}
	wg.Wait()

	c := &Collector{APICallsFile: file, Sources: func() ([]monitor.Source, error) { return nil, nil }}
	out := scrape(t, c)
	n := procs * rounds
	if served.Load() != int64(4*n) {
		t.Fatalf("the server saw %d requests, want %d", served.Load(), 4*n)
	}
	for _, want := range []string{
		fmt.Sprintf(`gitops_runner_backend_api_calls_total{backend="proxmox",method="GET",outcome="2xx"} %d`, n),
		fmt.Sprintf(`gitops_runner_backend_api_calls_total{backend="proxmox",method="POST",outcome="2xx"} %d`, n),
		fmt.Sprintf(`gitops_runner_backend_api_calls_total{backend="proxmox",method="GET",outcome="4xx"} %d`, n),
		fmt.Sprintf(`gitops_runner_backend_api_calls_total{backend="proxmox",method="PUT",outcome="5xx"} %d`, n),
		fmt.Sprintf(`gitops_runner_backend_api_calls_total{backend="proxmox",method="GET",outcome="error"} %d`, n),
		fmt.Sprintf(`gitops_runner_backend_api_errors_total{backend="proxmox"} %d`, 2*n),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	// The sum over outcomes with a response is what the server counted.
	var sum int64
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "gitops_runner_backend_api_calls_total{") && !strings.Contains(l, `outcome="error"`) {
			var v int64
			if _, err := fmt.Sscan(l[strings.LastIndex(l, " ")+1:], &v); err != nil {
				t.Fatal(err)
			}
			sum += v
		}
	}
	if sum != served.Load() {
		t.Errorf("calls with a response: %d counted, the server saw %d", sum, served.Load())
	}
	if t.Failed() {
		t.Log(out)
	}
	promtest.Check(t, out)

	// Nothing counted: a flush leaves the file alone.
	var idle APICalls
	if err := idle.Flush(filepath.Join(t.TempDir(), "none", "api-calls.json")); err != nil {
		t.Fatal(err)
	}
	if rows, err := ReadAPICalls(filepath.Join(t.TempDir(), "none", "api-calls.json")); err != nil || rows != nil {
		t.Errorf("an idle flush wrote %v, %v", rows, err)
	}
}

// stubTransport answers every request at once, so a benchmark measures
// what the counting adds, not a network.
type stubTransport struct{}

func (stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
}

// BenchmarkAPITransport: one round trip through a backend's transport,
// bare and counted (steps.APITransport with APICalls.Observe).
func BenchmarkAPITransport(b *testing.B) {
	req, err := http.NewRequest("GET", "https://pve.example.net:8006/api2/json/version", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"bare", stubTransport{}}, {"counted", steps.APITransport("proxmox", stubTransport{})}} {
		b.Run(bc.name, func(b *testing.B) {
			var calls APICalls
			steps.ObserveAPICalls(calls.Observe)
			defer steps.ObserveAPICalls(nil)
			b.ReportAllocs()
			for b.Loop() {
				res, err := bc.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				_ = res.Body.Close()
			}
		})
	}
}
