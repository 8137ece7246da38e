package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/doctor"
	"github.com/gitops-runner/gitops-runner/steps"
)

// install describes the installation the doctor checks: which configuration
// file is in use and how it was found (or where the runner looked), and the
// repository a hook runs for ("" for all configured repos).
func (e *env) install(repo string) doctor.Install {
	in := doctor.Install{ConfigFile: e.configFile, Repo: repo}
	switch {
	case e.configFile == "":
		in.ConfigFrom = doctor.NotFound("RUNNER_CONFIG")
		return in
	case os.Getenv("RUNNER_CONFIG") == e.configFile:
		in.ConfigFrom = "$RUNNER_CONFIG"
	case os.Getenv("RUNNER_CONFIG") == "" && e.configFile == systemConfig:
		in.ConfigFrom = "the default path"
	default:
		in.ConfigFrom = "--config"
	}
	in.Config, in.ConfigErr = e.loadConfig()
	return in
}

// Closing lines of refusals by deployPathFails.
const (
	refusedPreReceive  = "runner: push rejected: this server could not deploy it; nothing was accepted (the runner's administrator must fix the above; `runner doctor` checks the whole install)"
	refusedPostReceive = "runner: your push is in, but it was NOT queued and nothing was deployed (the runner's administrator must fix the above, then run `runner apply` as the hosting user)"
)

// deployPathFails runs the doctor's local checks for a hook (pre-receive,
// or post-receive when closing is refusedPostReceive) on repo and prints the failed ones for the pusher, then closing. It returns an error
// (exit 1) if any failed: the pre-receive hook then refuses a push that
// could not be queued or deployed.
func (e *env) deployPathFails(repo, closing string) error {
	checks := doctor.PreReceive
	if closing == refusedPostReceive {
		checks = doctor.PostReceive
	}
	rs := checks(e.install(repo))
	if !doctor.Failed(rs) {
		return nil
	}
	for _, r := range rs {
		if r.Status == doctor.Fail {
			fmt.Fprintf(e.stdout, "runner: %s\n", r)
		}
	}
	fmt.Fprintln(e.stdout, closing)
	return exitError{code: exitFailed}
}

// cmdDoctor checks the installation end to end and prints one line per
// check; it exits 1 if any check failed.
func cmdDoctor(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "doctor")
	f.repoFlag()
	offline := f.fs.Bool("offline", false, "skip the checks that contact the backends")
	if err := f.parseNoArgs(args); err != nil {
		return err
	}
	in := e.install(f.repo)
	rs := doctor.Local(in)
	switch {
	case in.Config == nil:
	case *offline:
		// Building the backends contacts none, and checks the config the
		// way every run will (backends.*, reconcile.selfHeal).
		if _, err := e.registry(in.Config, &steps.Redactor{}); err != nil {
			rs = append(rs, doctor.Result{Check: "backends", Status: doctor.Fail, Detail: err.Error(), Fix: "correct the config file: the message names the field"})
		}
	default:
		rs = append(rs, e.backendChecks(ctx, in.Config)...)
	}
	failed := 0
	for _, r := range rs {
		fmt.Fprintln(e.stdout, r)
		if r.Status == doctor.Fail {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(e.stdout, "\n%d of %d checks failed\n", failed, len(rs))
		return exitError{code: exitFailed}
	}
	fmt.Fprintf(e.stdout, "\nall %d checks passed\n", len(rs))
	return nil
}

// backendChecks builds the configured backends as a run does and probes
// each one that has a probe (see doctor.Prober).
func (e *env) backendChecks(ctx context.Context, cfg *config.Config) []doctor.Result {
	red := &steps.Redactor{}
	reg, err := e.registry(cfg, red)
	if err != nil {
		return []doctor.Result{{Check: "backends", Status: doctor.Fail, Detail: red.Redact(err.Error()), Fix: "correct the config file: the message names the field"}}
	}
	probers := map[string]doctor.Prober{}
	for _, b := range reg.Backends() {
		if p, ok := b.(doctor.Prober); ok {
			probers[b.Name()] = p
		}
	}
	names := make([]string, 0, len(cfg.Backends))
	for n := range cfg.Backends {
		names = append(names, n)
	}
	slices.Sort(names)
	rs := doctor.BackendChecks(ctx, probers, names, time.Now)
	for i := range rs {
		rs[i].Detail = red.Redact(rs[i].Detail)
	}
	return rs
}
