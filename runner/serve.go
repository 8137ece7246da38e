package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/queue"
)

// cmdServe runs the runner as a service (see hooks/systemd): for every
// configured repo it drains the queue now and then (pushes whose hook could
// not start a worker) and runs a periodic drift check. Each piece of work
// is a child process (`runner work`, `runner drift`), so a runaway
// evaluation or a crash never takes the service down.
func cmdServe(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "serve")
	workEvery := f.fs.Duration("work-interval", 30*time.Second, "how often to look for queued pushes no worker took")
	driftEvery := f.fs.Duration("drift-interval", time.Hour, "how often to compare live state with the deployed commit (0: never)")
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
		cmd := exec.CommandContext(ctx, exe, append([]string{"--config", e.configFile}, args...)...)
		defer witnessDeath(e, cfg, args, cmd)
		cmd.Stdout, cmd.Stderr = e.stderr, e.stderr
		// On stop, ask the child to stop (it starts no new change; the
		// queue keeps its job for the next worker) rather than SIGKILL it.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 5 * time.Minute
		if err := cmd.Run(); err != nil && ctx.Err() == nil {
			fmt.Fprintf(e.stderr, "runner serve: runner %v: %v\n", args, err)
		}
	}
	fmt.Fprintf(e.stderr, "runner serve: %d repos; queue every %s, drift check every %s\n", len(cfg.Repos), *workEvery, *driftEvery)
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
				child("drift", "--repo", r.Path)
			}
		}
	}
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
// check" status commit when they differ. It applies nothing.
func cmdDrift(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "drift")
	f.repoFlag()
	if err := f.parse(args); err != nil {
		return err
	}
	s, err := e.session(f)
	if err != nil {
		return err
	}
	inv, err := pipeline.ReadInventory(s.git, s.repo.StatusBranch)
	if err != nil {
		return exitError{exitFailed, err}
	}
	rev := inv.Commit
	if rev == "" {
		fmt.Fprintln(e.stdout, "nothing deployed yet; no drift to check")
		return nil
	}
	l, err := s.lock(ctx)
	if err != nil {
		return exitError{exitFailed, err}
	}
	defer l.Unlock() //nolint:errcheck // closing the lock file cannot lose data
	rep, err := s.runner.Run(ctx, pipeline.Request{Rev: rev, Kind: pipeline.KindDrift})
	if err != nil {
		return exitError{exitRecord, err}
	}
	return e.printReport(rep, "text", "")
}
