// Package metrics serves Prometheus metrics about the runner — runs by kind
// and result, the last run of each kind, drift, the queue, certificate
// expiry, applied changes and their attempts, backend API calls — computed
// at scrape time from what the runner recorded (the status history, the
// queue, the deployed certificates, the API call counts), for `runner serve
// --metrics-listen`.
//
// Why not in-process counters: the service's work runs in child processes
// (`runner work`, `runner reconcile`), and deployments also run in workers
// the post-receive hook starts, so counters in the serve process would see
// little, and would restart at zero with it. The status history is the
// record of every run, append-only, so counters derived from it are
// monotonic and survive restarts; the collector walks only the status
// commits added since the last scrape. The API calls, which the status
// history does not hold, each process counts (APICalls) and adds to one
// file in the state directory, which the collector reads.
package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/monitor"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

const ns = "gitops_runner"

var (
	descRuns = prometheus.NewDesc(ns+"_runs_total",
		"Runs recorded on the status branch, by kind (deploy, replay, drift, renew, plan) and result (ok, failed, denied, planned, superseded).",
		[]string{"repo", "kind", "result"}, nil)
	descChanges = prometheus.NewDesc(ns+"_changes_total",
		"Changes the applies ran, by resource kind and status (ok, failed, skipped, canceled).",
		[]string{"repo", "resource_kind", "status"}, nil)
	descAttempts = prometheus.NewDesc(ns+"_change_attempts_total",
		"Attempts of applied changes (each a backend apply call; retries of transient errors included), by resource kind.",
		[]string{"repo", "resource_kind"}, nil)
	descLastTime = prometheus.NewDesc(ns+"_last_run_timestamp_seconds",
		"When the last run of each kind finished (Unix time).",
		[]string{"repo", "kind"}, nil)
	descLastDuration = prometheus.NewDesc(ns+"_last_run_duration_seconds",
		"How long the last run of each kind took.",
		[]string{"repo", "kind"}, nil)
	descLastResult = prometheus.NewDesc(ns+"_last_run_result",
		"The result of the last run of each kind: 1 for its result, 0 for the others.",
		[]string{"repo", "kind", "result"}, nil)
	descDeployFailed = prometheus.NewDesc(ns+"_last_deployment_failed",
		"1 when the last deployment (deploy or replay that ran) failed or was denied, else 0.",
		[]string{"repo"}, nil)
	descDrifted = prometheus.NewDesc(ns+"_drifted_resources",
		"Resources the newest drift check after the last deployment found changed (0: none recorded).",
		[]string{"repo"}, nil)
	descQueueJobs = prometheus.NewDesc(ns+"_queue_jobs",
		"Jobs in the queue, by state (pending: waiting; running: taken by a worker).",
		[]string{"repo", "state"}, nil)
	descQueueAge = prometheus.NewDesc(ns+"_queue_oldest_job_age_seconds",
		"Age of the oldest queued job since its push (0: the queue is empty).",
		[]string{"repo"}, nil)
	descCertNotAfter = prometheus.NewDesc(ns+"_certificate_not_after_timestamp_seconds",
		"When each deployed certificate expires (Unix time; the leaf's notAfter).",
		[]string{"repo", "certificate"}, nil)
	descCertErrors = prometheus.NewDesc(ns+"_certificate_read_errors",
		"Certificates the inventory lists that could not be read (missing or unparsable cert.pem).",
		[]string{"repo"}, nil)
	descAPICalls = prometheus.NewDesc(ns+"_backend_api_calls_total",
		"HTTP requests the backends sent to their APIs (Proxmox VE, Route 53, FreeIPA, the ACME CA) in every runner process, by backend, method and outcome (2xx, 3xx, 4xx, 5xx; error: no response).",
		[]string{"backend", "method", "outcome"}, nil)
	descAPIErrors = prometheus.NewDesc(ns+"_backend_api_errors_total",
		"Backend API requests that failed on the server's or the network's side: no response, or a 5xx status.",
		[]string{"backend"}, nil)
	descUp = prometheus.NewDesc(ns+"_state_up",
		"1 when the repo's recorded state could be read at this scrape, else 0.",
		[]string{"repo"}, nil)
)

// results are the values of the last_run_result metric.
var results = []pipeline.Result{pipeline.ResultOK, pipeline.ResultFailed, pipeline.ResultDenied, pipeline.ResultPlanned, pipeline.ResultSuperseded}

// Collector is a prometheus.Collector that reads the runner's durable
// state at each scrape.
type Collector struct {
	// Sources opens the repos' state; called at every scrape, so the git
	// directories are read afresh.
	Sources func() ([]monitor.Source, error)
	// APICallsFile is the file of backend API call counts the runner's
	// processes flush to (APICallsFile of the state directory; "": no API
	// call metrics).
	APICallsFile string
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu      sync.Mutex
	history map[string]*history // by repo name
}

// history is what the status commits up to tip added up to.
type history struct {
	tip      plumbing.Hash
	runs     map[[2]string]float64 // kind, result
	changes  map[[2]string]float64 // resource kind, status
	attempts map[string]float64    // resource kind
	last     map[pipeline.RunKind]*pipeline.Report
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRuns, descChanges, descAttempts, descLastTime, descLastDuration, descLastResult,
		descDeployFailed, descDrifted, descQueueJobs, descQueueAge, descCertNotAfter, descCertErrors, descUp, descAPICalls, descAPIErrors} {
		ch <- d
	}
}

// Collect reads every repo's state and sends its metrics. A repo whose
// state cannot be read is reported with state_up 0 (and the error as an
// invalid metric, which the handler logs), the others as usual.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	srcs, err := c.Sources()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descUp, err)
		return
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.history == nil {
		c.history = map[string]*history{}
	}
	if c.APICallsFile != "" {
		c.collectAPICalls(ch)
	}
	for _, src := range srcs {
		if err := c.collectRepo(ch, src, now()); err != nil {
			ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0, src.Name)
			ch <- prometheus.NewInvalidMetric(descUp, fmt.Errorf("%s: %w", src.Name, err))
			continue
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1, src.Name)
	}
}

func (c *Collector) collectRepo(ch chan<- prometheus.Metric, src monitor.Source, now time.Time) error {
	h, err := c.update(src)
	if err != nil {
		return err
	}
	st, err := monitor.Read(src)
	if err != nil {
		return err
	}
	repo := src.Name
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{repo}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{repo}, labels...)...)
	}
	for k, v := range h.runs {
		counter(descRuns, v, k[0], k[1])
	}
	for k, v := range h.changes {
		counter(descChanges, v, k[0], k[1])
	}
	for k, v := range h.attempts {
		counter(descAttempts, v, k)
	}
	for kind, rep := range h.last {
		gauge(descLastTime, float64(rep.Finished.UnixMilli())/1000, string(kind))
		gauge(descLastDuration, float64(rep.DurationMS)/1000, string(kind))
		for _, r := range results {
			v := 0.0
			if rep.Result == r {
				v = 1
			}
			gauge(descLastResult, v, string(kind), string(r))
		}
	}
	failed := 0.0
	if st.LastDeploy.Failed() {
		failed = 1
	}
	gauge(descDeployFailed, failed)
	drifted := 0.0
	if st.Drift != nil {
		drifted = float64(st.Drift.Resources)
	}
	gauge(descDrifted, drifted)
	gauge(descQueueJobs, float64(st.Queue.Pending), "pending")
	gauge(descQueueJobs, float64(st.Queue.Running), "running")
	age := 0.0
	if !st.Queue.Oldest.IsZero() {
		age = now.Sub(st.Queue.Oldest).Seconds()
	}
	gauge(descQueueAge, age)
	errs := 0.0
	for _, cert := range st.Certs {
		if cert.Err != nil {
			errs++
			continue
		}
		gauge(descCertNotAfter, float64(cert.NotAfter.Unix()), cert.Name)
	}
	gauge(descCertErrors, errs)
	return nil
}

// collectAPICalls sends the backend API call counts of the file.
func (c *Collector) collectAPICalls(ch chan<- prometheus.Metric) {
	rows, err := ReadAPICalls(c.APICallsFile)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descAPICalls, err)
		return
	}
	errs := map[string]float64{}
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(descAPICalls, prometheus.CounterValue, r.Count, r.Backend, r.Method, r.Outcome)
		if _, ok := errs[r.Backend]; !ok {
			errs[r.Backend] = 0
		}
		if r.Outcome == "error" || r.Outcome == "5xx" {
			errs[r.Backend] += r.Count
		}
	}
	for b, n := range errs {
		ch <- prometheus.MustNewConstMetric(descAPIErrors, prometheus.CounterValue, n, b)
	}
}

// update adds the status commits recorded since the last scrape to the
// repo's history (all of them on the first scrape, or when the branch was
// rewritten: the cached tip is no longer on it).
func (c *Collector) update(src monitor.Source) (*history, error) {
	tip, err := src.Repo.Ref(gitstore.BranchRef(src.StatusBranch))
	if err != nil {
		return nil, err
	}
	h := c.history[src.Name]
	if h != nil && !h.tip.IsZero() {
		if ok, err := src.Repo.IsAncestor(h.tip, tip); err != nil || !ok {
			h = nil
		}
	}
	if h == nil || tip.IsZero() {
		h = &history{runs: map[[2]string]float64{}, changes: map[[2]string]float64{}, attempts: map[string]float64{},
			last: map[pipeline.RunKind]*pipeline.Report{}}
	}
	if tip == h.tip {
		c.history[src.Name] = h
		return h, nil
	}
	seen := map[pipeline.RunKind]bool{}
	err = monitor.History(src.Repo, src.StatusBranch, h.tip, 1<<31-1, func(_ plumbing.Hash, rep *pipeline.Report) bool {
		h.runs[[2]string{string(rep.Kind), string(rep.Result)}]++
		for _, s := range rep.Applied {
			kind, _, _ := strings.Cut(s.ID, "/")
			h.changes[[2]string{kind, string(s.Status)}]++
			h.attempts[kind] += float64(s.Attempts)
		}
		// Newest first: the first report of a kind is its last run.
		if !seen[rep.Kind] {
			seen[rep.Kind] = true
			h.last[rep.Kind] = rep
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	h.tip = tip
	c.history[src.Name] = h
	return h, nil
}

// Handler is the /metrics handler: the collector plus the serve process's
// own Go runtime and process metrics, in the Prometheus text format.
func Handler(c *Collector) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}), nil
}

// Serve listens on addr ("host:port") and serves /metrics until stop is
// called. It returns once the listener is bound, so a bad address is an
// error here.
func Serve(addr string, c *Collector, errLog func(error)) (bound net.Addr, stop func(), err error) {
	h, err := Handler(c)
	if err != nil {
		return nil, nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && errLog != nil {
			errLog(err)
		}
	}()
	return l.Addr(), func() {
		_ = srv.Close()
		<-done
	}, nil
}
