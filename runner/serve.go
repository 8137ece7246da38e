package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/queue"
	"github.com/gitops-runner/gitops-runner/steps"
)

// cmdServe runs the runner as a service (see hooks/systemd): for every
// configured repo it drains the queue now and then (pushes whose hook could
// not start a worker) and, every --drift-interval, reconciles the deployed
// commit: it renews what time made due, heals the drift the config's
// reconcile section allows, and records the rest as drift (`runner
// reconcile`). Each piece of work is a child process, so a runaway
// evaluation or a crash never takes the service down. The children's
// outcomes are in the status history (status.json of each status commit);
// serve prints a report only when a child recorded something new.
func cmdServe(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "serve")
	workEvery := f.fs.Duration("work-interval", 30*time.Second, "how often to look for queued pushes no worker took")
	driftEvery := f.fs.Duration("drift-interval", time.Hour, "how often to reconcile: renew what is due, heal allowed drift, record the rest (0: never)")
	metricsAddr := f.fs.String("metrics-listen", "", "serve Prometheus metrics at http://`addr`/metrics (host:port; empty: none)")
	if err := f.parse(args); err != nil {
		return err
	}
	if e.configFile == "" {
		return usagef("serve needs a configuration listing the repos (--config, $RUNNER_CONFIG or %s)", systemConfig)
	}
	cfg, err := config.Load(e.configFile)
	if err != nil {
		return exitError{exitUsage, err}
	}
	if len(cfg.Repos) == 0 {
		return exitError{exitUsage, fmt.Errorf("config %s lists no repos", e.configFile)}
	}
	// Its children write to the repos: refuse now, not every 30 s.
	for _, r := range cfg.Repos {
		if err := e.mayWrite(r.Path); err != nil {
			return err
		}
	}
	if *metricsAddr != "" {
		stop, err := startMetrics(e, cfg, *metricsAddr)
		if err != nil {
			return exitError{exitUsage, err}
		}
		defer stop()
	}
	exe, err := os.Executable()
	if err != nil {
		return exitError{exitFailed, err}
	}
	child := func(args ...string) {
		cmd := exec.CommandContext(ctx, exe, append(e.childFlags(), args...)...)
		defer witnessDeath(e, cfg, args, cmd)
		cmd.Stdout, cmd.Stderr = e.stderr, e.stderr
		// On stop, ask the child to stop (it starts no new change; the
		// queue keeps its job for the next worker) rather than SIGKILL it.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 5 * time.Minute
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) && (ee.ExitCode() == exitDrift || ee.ExitCode() == exitDenied) {
			return // drift left, or a denial: recorded in the status history
		}
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(e.stderr, "runner serve: runner %v: %v\n", args, err)
		}
	}
	renew := "renewals off"
	if *cfg.Reconcile.Renewals {
		renew = "renewals on"
	}
	fmt.Fprintf(e.stderr, "runner serve: %d repos; queue every %s, reconcile every %s (%s, self-heal: %s)\n",
		len(cfg.Repos), *workEvery, *driftEvery, renew, orNone(cfg.Reconcile.SelfHeal))
	work := time.NewTicker(*workEvery)
	defer work.Stop()
	var drift <-chan time.Time
	if *driftEvery > 0 {
		t := time.NewTicker(*driftEvery)
		defer t.Stop()
		drift = t.C
	}
	for _, r := range cfg.Repos {
		child("work", "--repo", r.Path)
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(e.stderr, "runner serve: stopping")
			return nil
		case <-work.C:
			for _, r := range cfg.Repos {
				child("work", "--no-wait", "--repo", r.Path)
				checkStuck(ctx, e, cfg, r)
			}
		case <-drift:
			for _, r := range cfg.Repos {
				child("reconcile", "--changes-only", "--repo", r.Path)
			}
		}
	}
}

// childFlags are the global flags serve's children get: its configuration
// and its logging.
func (e *env) childFlags() []string {
	fl := []string{"--config", e.configFile}
	if e.allowOtherUser {
		fl = append(fl, "--allow-other-user")
	}
	if e.logFormat != "" {
		fl = append(fl, "--log-format", e.logFormat)
	}
	if e.logLevel != "" {
		fl = append(fl, "--log-level", e.logLevel)
	}
	return fl
}

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}

// witnessDeath tells the queue how a `runner work` child died (a signal, a
// crash), so that a job given up after its workers died says why; only the
// parent of a process can learn that.
func witnessDeath(e *env, cfg *config.Config, args []string, cmd *exec.Cmd) {
	if len(args) == 0 || args[0] != "work" || cmd.ProcessState == nil || cmd.ProcessState.Success() {
		return
	}
	how := cmd.ProcessState.String() // "exit status 2"
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		how = fmt.Sprintf("killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	}
	rc, err := cfg.Repo(args[len(args)-1])
	if err != nil {
		return
	}
	g, err := gitstore.Open(rc.Path)
	if err != nil {
		return
	}
	sp, err := queue.Open(filepath.Join(cfg.StateDir, "queue", rc.Name))
	if err != nil {
		return
	}
	// Under the lock, so no worker moves the jobs meanwhile; if another
	// worker already holds it, the job is in its hands.
	l, ok, err := queue.TryLockRepo(g.Path())
	if err != nil || !ok {
		return
	}
	defer l.Unlock() //nolint:errcheck // closing the lock file cannot lose data
	if err := sp.RecordDeath(cmd.Process.Pid, how); err != nil {
		fmt.Fprintf(e.stderr, "runner serve: note how worker %d ended (%s) in %s: %v\n", cmd.Process.Pid, how, sp.Dir(), err)
	}
}

// cmdDrift compares the live state with the deployed commit (the last one
// the status history applied, else the branch tip) and records a "drift
// check" status commit when they differ (once per distinct drift). It
// applies nothing. Exit code exitDrift when there is drift.
func cmdDrift(ctx context.Context, e *env, args []string) error {
	return driftRun(ctx, e, "drift", args, false)
}

// cmdReconcile is cmdDrift that also applies what the configuration's
// reconcile section allows without a push: renewals time made due and the
// drift of the self-heal kinds. It is what `runner serve` runs every
// --drift-interval.
func cmdReconcile(ctx context.Context, e *env, args []string) error {
	return driftRun(ctx, e, "reconcile", args, true)
}

func driftRun(ctx context.Context, e *env, name string, args []string, reconcile bool) error {
	f := newFlags(e, name)
	f.repoFlag()
	changesOnly := f.fs.Bool("changes-only", false, "print the report only when the run records a status commit (runner serve: a drift already recorded is not printed again)")
	if err := f.parse(args); err != nil {
		return err
	}
	s, err := e.session(f)
	if err != nil {
		return err
	}
	req := pipeline.Request{Kind: pipeline.KindDrift}
	if reconcile {
		// The kinds of selfHeal were checked when the session was made.
		rc := pipeline.Reconcile{Renewals: *s.cfg.Reconcile.Renewals, SelfHeal: s.cfg.Reconcile.SelfHeal}
		req.Reconcile = &rc
	}
	inv, err := pipeline.ReadInventory(s.git, s.repo.StatusBranch)
	if err != nil {
		return exitError{exitFailed, err}
	}
	if req.Rev = inv.Commit; req.Rev == "" {
		if !*changesOnly {
			fmt.Fprintln(e.stdout, "nothing deployed yet; no drift to check")
		}
		return nil
	}
	l, err := s.lock(ctx)
	if err != nil {
		return exitError{exitFailed, err}
	}
	defer l.Unlock() //nolint:errcheck // closing the lock file cannot lose data
	before, _ := s.git.Branch(s.repo.StatusBranch)
	rep, err := s.runner.Run(ctx, req)
	if err != nil {
		return exitError{exitRecord, err}
	}
	if after, _ := s.git.Branch(s.repo.StatusBranch); *changesOnly && after == before {
		err = reportExit(rep) // nothing new: the same drift was printed when it was recorded
	} else {
		err = e.printReport(rep, "text", "")
	}
	if err == nil && unapplied(rep) > 0 {
		return exitError{code: exitDrift}
	}
	return err
}

// unapplied counts a drift or reconcile run's planned changes that it did
// not apply: the drift left.
func unapplied(rep *pipeline.Report) int {
	done := map[string]bool{}
	for _, a := range rep.Applied {
		if a.Status == steps.StatusOK {
			done[a.ID] = true
		}
	}
	n := 0
	for _, p := range rep.Plan {
		if p.Action != steps.NoOp && !done[p.ID] {
			n++
		}
	}
	return n
}
