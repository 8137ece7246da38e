package main

import (
	"fmt"

	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/metrics"
	"github.com/gitops-runner/gitops-runner/runner/monitor"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// startMetrics serves the Prometheus metrics of cfg's repos on addr
// (`runner serve --metrics-listen`), computed at each scrape from their
// recorded state and the backend API call counts the runner's processes
// flushed; stop ends the server.
func startMetrics(e *env, cfg *config.Config, addr string) (stop func(), err error) {
	c := &metrics.Collector{Sources: func() ([]monitor.Source, error) { return monitorSources(cfg, "") },
		APICallsFile: metrics.APICallsFile(cfg.StateDir)}
	bound, stop, err := metrics.Serve(addr, c, func(err error) { fmt.Fprintf(e.stderr, "runner serve: metrics: %v\n", err) })
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "runner serve: metrics on http://%s/metrics\n", bound)
	return stop, nil
}

// apiCalls counts this process's backend API calls (every backend's
// transport reports to it through steps.ObserveAPICalls).
var apiCalls metrics.APICalls

// countAPICalls counts the backend API calls of this command, to be added
// to the state directory's counts after each recorded run and when the
// command ends. The commands that run deployments and checks as the
// hosting user count (see session); plan, import and doctor, which anyone
// may run, do not.
func (e *env) countAPICalls(cfg *config.Config) {
	steps.ObserveAPICalls(apiCalls.Observe)
	e.apiCallsFile = metrics.APICallsFile(cfg.StateDir)
}

// flushAPICalls adds the calls counted so far to the state directory's
// counts; an error is a warning (the run itself is recorded).
func (e *env) flushAPICalls() {
	if e.apiCallsFile == "" {
		return
	}
	if err := apiCalls.Flush(e.apiCallsFile); err != nil {
		fmt.Fprintf(e.stderr, "runner: %v\n", err)
	}
}

// apiCallsFlusher flushes the API call counts to its file after each
// recorded run (a pipeline.Observer), so a long process — the lab, a
// worker draining the queue — shows its calls run by run.
type apiCallsFlusher string

func (f apiCallsFlusher) Recorded(*pipeline.Report, string) {
	_ = apiCalls.Flush(string(f)) // an error is reported when the command ends, which flushes again
}
