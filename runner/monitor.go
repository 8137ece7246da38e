package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/monitor"
	"github.com/gitops-runner/gitops-runner/runner/queue"
)

// cmdMonitor reports the runner's state from what it recorded: the last
// deployment, drift, the soonest certificate expiry and the queue. With
// --nagios it is a Nagios plugin (nagios-plugins.org/doc/guidelines.html):
// one status line with performance data, the checks as long text, and the
// exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN — also for a bad command
// line or configuration, which a plugin must not report as 2.
func cmdMonitor(_ context.Context, e *env, args []string) error {
	f := newFlags(e, "monitor")
	f.repoFlag()
	nagios := f.fs.Bool("nagios", false, "be a Nagios plugin: status line with performance data, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
	th := monitor.DefaultThresholds
	f.fs.IntVar(&th.DriftWarning, "drift-warning", th.DriftWarning, "warn at this many drifted resources (0: never)")
	f.fs.IntVar(&th.DriftCritical, "drift-critical", th.DriftCritical, "critical at this many drifted resources (0: never)")
	f.fs.Float64Var(&th.CertWarning, "cert-warning", th.CertWarning, "warn when the soonest certificate expires in fewer `days` (0: never)")
	f.fs.Float64Var(&th.CertCritical, "cert-critical", th.CertCritical, "critical when the soonest certificate expires in fewer `days` (0: never)")
	f.fs.DurationVar(&th.QueueWarning, "queue-warning", th.QueueWarning, "warn when the oldest queued job waits this long (0: never)")
	f.fs.DurationVar(&th.QueueCritical, "queue-critical", th.QueueCritical, "critical when the oldest queued job waits this long (0: never)")
	unknown := func(err error) error {
		if *nagios {
			fmt.Fprintf(e.stdout, "RUNNER UNKNOWN - %s\n", strings.ReplaceAll(err.Error(), "|", "/"))
			return exitError{code: int(monitor.Unknown)}
		}
		return err
	}
	if err := f.parseNoArgs(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		// The flag is not parsed yet when the command line is bad: a
		// plugin says UNKNOWN whatever the flags were.
		for _, a := range args {
			if a == "--nagios" || a == "-nagios" || a == "--nagios=true" {
				*nagios = true
			}
		}
		return unknown(err)
	}
	states, err := e.monitorStates(f.repo)
	if err != nil {
		return unknown(err)
	}
	res := monitor.Check(states, th, time.Now())
	if !*nagios {
		for _, l := range res.Lines {
			fmt.Fprintln(e.stdout, l)
		}
		return nil
	}
	fmt.Fprint(e.stdout, res.Output())
	if res.Status != monitor.OK {
		return exitError{code: int(res.Status)}
	}
	return nil
}

// monitorStates reads the state of the repo named (or every configured
// repo when none is).
func (e *env) monitorStates(repo string) ([]*monitor.State, error) {
	srcs, err := e.monitorSources(repo)
	if err != nil {
		return nil, err
	}
	var states []*monitor.State
	for _, src := range srcs {
		st, err := monitor.Read(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.Name, err)
		}
		states = append(states, st)
	}
	return states, nil
}

// monitorSources are the durable state of the repo named, or of every
// configured repo: its git directory, queue and certificate root.
func (e *env) monitorSources(repo string) ([]monitor.Source, error) {
	cfg := config.Default()
	if e.configFile != "" {
		c, err := config.Load(e.configFile)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	return monitorSources(cfg, repo)
}

// monitorSources opens the durable state of the repo named, or of every
// repo of cfg when none is.
func monitorSources(cfg *config.Config, repo string) ([]monitor.Source, error) {
	repos := cfg.Repos
	if repo != "" || len(repos) == 0 {
		rc, err := cfg.Repo(repo)
		if err != nil {
			return nil, err
		}
		repos = []config.Repo{rc}
	}
	var acme struct {
		CertRoot string `json:"certRoot"`
	}
	if raw := cfg.Backends["acme"]; raw != nil {
		_ = json.Unmarshal(raw, &acme)
	}
	var srcs []monitor.Source
	for _, rc := range repos {
		g, err := gitstore.Open(rc.Path)
		if err != nil {
			return nil, err
		}
		g.PinBranches(rc.Branch, rc.StatusBranch)
		// No queue directory: nothing was ever queued (queue.Open would
		// create it, and the monitor may run as a user who cannot).
		var sp *queue.Spool
		if dir := filepath.Join(cfg.StateDir, "queue", rc.Name); exists(dir) {
			if sp, err = queue.Open(dir); err != nil {
				return nil, err
			}
		}
		srcs = append(srcs, monitor.Source{Name: rc.Name, Repo: g, StatusBranch: rc.StatusBranch, Spool: sp, CertRoot: acme.CertRoot})
	}
	return srcs, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
