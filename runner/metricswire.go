package main

import (
	"fmt"

	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/metrics"
	"github.com/gitops-runner/gitops-runner/runner/monitor"
)

// startMetrics serves the Prometheus metrics of cfg's repos on addr
// (`runner serve --metrics-listen`), computed at each scrape from their
// recorded state; stop ends the server.
func startMetrics(e *env, cfg *config.Config, addr string) (stop func(), err error) {
	c := &metrics.Collector{Sources: func() ([]monitor.Source, error) { return monitorSources(cfg, "") }}
	bound, stop, err := metrics.Serve(addr, c, func(err error) { fmt.Fprintf(e.stderr, "runner serve: metrics: %v\n", err) })
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "runner serve: metrics on http://%s/metrics\n", bound)
	return stop, nil
}
