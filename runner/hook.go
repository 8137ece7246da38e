package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/queue"
)

// doneMarker starts the last line of a job's progress log.
const doneMarker = "==> "

// spool opens the repo's job queue under the configured state directory.
func (s *session) spool() (*queue.Spool, error) {
	return queue.Open(filepath.Join(s.cfg.StateDir, "queue", s.repo.Name))
}

// cmdHook handles `runner hook post-receive`: queue the push durably, start
// a detached worker, and (unless queue-only) follow the job's progress so
// the pusher sees it as "remote:" lines. Interrupting the push never stops
// the run: the worker is detached.
func cmdHook(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "post-receive" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			args = []string{"post-receive", "-h"}
		} else {
			return usagef("want `runner hook post-receive` (run by hooks/post-receive)")
		}
	}
	f := newFlags(e, "hook post-receive")
	f.repoFlag()
	queueOnly := f.fs.Bool("queue-only", false, "queue and return at once (also: git push -o runner.queue-only)")
	follow := f.fs.Duration("follow", 30*time.Minute, "how long to stream a deployment's progress before returning")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	start := time.Now()
	if f.repo == "" {
		f.repo = gitDirFromEnv()
	}
	// Say why a push cannot be queued in terms of its cause (no config
	// found, repo not configured) rather than as a failed mkdir.
	if err := e.deployPathFails(f.repo, refusedPostReceive); err != nil {
		return err
	}
	s, sp, err := e.spoolSession(f)
	if err != nil {
		return err
	}
	lines, err := readRefLines(e.stdin)
	if err != nil {
		return exitError{exitUsage, err}
	}
	opts := pushOptions()
	planOnly := opts["runner.plan-only"]
	*queueOnly = *queueOnly || opts["runner.queue-only"]
	var job *queue.Job
	for _, l := range lines {
		switch {
		case l.ref != "refs/heads/"+s.repo.Branch:
			fmt.Fprintf(e.stdout, "runner: %s is not deployed (only %s is); nothing to do\n", l.ref, s.repo.Branch)
			continue
		case l.new == zeroHash:
			fmt.Fprintf(e.stdout, "runner: %s deleted; nothing deployed, nothing removed\n", l.ref)
			continue
		}
		job = &queue.Job{Repo: s.git.Path(), Ref: l.ref, Old: l.old, New: l.new, Pusher: pusher(), PushedAt: time.Now().UTC(), PlanOnly: planOnly}
		if err := sp.Add(job); err != nil {
			return exitError{exitFailed, err}
		}
	}
	if job == nil {
		return nil
	}
	if err := e.startWorker(s); err != nil {
		fmt.Fprintf(e.stdout, "runner: queued %s, but could not start a worker: %v\nrunner: run `runner work --repo %s` on the runner host\n", short(job.New), err, s.git.Path())
		return nil
	}
	what := "deploy"
	if planOnly {
		what = "plan"
	}
	fmt.Fprintf(e.stdout, "runner: queued %s of %s as job %s (%d ms)\n", what, short(job.New), job.ID, time.Since(start).Milliseconds())
	if *queueOnly || s.cfg.Hook.QueueOnly {
		fmt.Fprintf(e.stdout, "runner: not waiting; the result will be on branch %s (git fetch && git log origin/%s)\n", s.repo.StatusBranch, s.repo.StatusBranch)
		return nil
	}
	return e.followJob(ctx, s, sp, job, *follow)
}

// gitDirFromEnv is the repository a hook runs in.
func gitDirFromEnv() string {
	if d := os.Getenv("GIT_DIR"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	return "."
}

// pushOptions reads `git push -o` options (GIT_PUSH_OPTION_n).
func pushOptions() map[string]bool {
	out := map[string]bool{}
	n, _ := strconv.Atoi(os.Getenv("GIT_PUSH_OPTION_COUNT"))
	for i := range n {
		out[os.Getenv(fmt.Sprintf("GIT_PUSH_OPTION_%d", i))] = true
	}
	return out
}

// startWorker starts `runner work` for the repo, detached from the hook
// (own session, no shared stdout/stderr), so the push returns while it runs
// and a disconnecting client cannot stop it. Its log goes to worker.log in
// the queue directory.
func (e *env) startWorker(s *session) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	sp, err := s.spool()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(sp.Dir(), "worker.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer logf.Close() //nolint:errcheck // the child has its own descriptor
	args := []string{"work", "--no-wait", "--repo", s.git.Path()}
	if e.configFile != "" {
		abs, err := filepath.Abs(e.configFile)
		if err != nil {
			return err
		}
		args = append([]string{"--config", abs}, args...)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

// followJob streams a job's progress log until its last line. If the
// worker dies meanwhile, it starts another (the job is still queued).
func (e *env) followJob(ctx context.Context, s *session, sp *queue.Spool, job *queue.Job, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var off int64
	quiet := time.Now()
	for {
		n, done, err := copyNew(e.stdout, sp.LogPath(job.ID), &off)
		if err != nil {
			return exitError{exitFailed, err}
		}
		if done {
			return nil
		}
		if n > 0 {
			quiet = time.Now()
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(e.stdout, "runner: still running after %s; the result will be on branch %s\n", limit, s.repo.StatusBranch)
			return nil
		}
		if time.Since(quiet) > 2*time.Second {
			// No news for a while: is a worker alive? (a killed one
			// leaves the lock free and the job queued)
			if l, ok, _ := queue.TryLockRepo(s.git.Path()); ok {
				_ = l.Unlock()
				if err := e.startWorker(s); err == nil {
					fmt.Fprintln(e.stdout, "runner: no worker was running; started one")
				}
			}
			quiet = time.Now()
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(e.stdout, "runner: stopped following; the deployment goes on")
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// copyNew copies the lines added to path since *off; done is true once the
// final line was copied.
func copyNew(w io.Writer, path string, off *int64) (n int, done bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close() //nolint:errcheck // read-only
	if _, err := f.Seek(*off, io.SeekStart); err != nil {
		return 0, false, err
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return n, false, nil //nolint:nilerr // a partial line is read again next time
		}
		*off += int64(len(line))
		n++
		if _, err := io.WriteString(w, line); err != nil {
			return n, false, err
		}
		if strings.HasPrefix(line, doneMarker) {
			return n, true, nil
		}
	}
}

// cmdWork drains the repo's queue and exits: the worker the hook starts,
// also usable from cron or by hand.
func cmdWork(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "work")
	f.repoFlag()
	noWait := f.fs.Bool("no-wait", false, "if another worker holds the repo, leave the queue to it and exit at once (how the hook starts workers)")
	if err := f.parse(args); err != nil {
		return err
	}
	s, sp, err := e.spoolSession(f)
	if err != nil {
		return err
	}
	sp.PruneLogs(7 * 24 * time.Hour)
	// The worker writes status and notes only inside Run, Supersede and
	// GiveUp, which the queue calls with the repo lock held.
	s.git.HoldingRunnerLock(true)
	w := &queue.Worker{Spool: sp, GitDir: s.git.Path(), Wait: !*noWait,
		Run: func(ctx context.Context, j *queue.Job) error {
			return e.runJob(ctx, s, sp, j)
		},
		Supersede: func(_ context.Context, old, by *queue.Job) error {
			rep, err := s.runner.RecordSuperseded(old.New, by.New, pipeline.Push{User: old.Pusher, Ref: old.Ref, Old: old.Old, New: old.New})
			if err != nil {
				return err
			}
			return appendLine(sp.LogPath(old.ID), doneMarker+rep.Summary+"; its deployment includes your changes\n")
		},
		GiveUp: func(_ context.Context, j *queue.Job, reason string) error {
			rep, err := s.runner.RecordGivenUp(j.New, reason, pipeline.Push{User: j.Pusher, Ref: j.Ref, Old: j.Old, New: j.New}, j.PlanOnly)
			if err != nil {
				return err
			}
			s.log.WithField("job", j.ID).Error(reason)
			return appendLine(sp.LogPath(j.ID), "runner: "+reason+"\n"+doneMarker+rep.Summary+"\n")
		},
	}
	if err := w.Drain(ctx); err != nil {
		return exitError{exitFailed, err}
	}
	return nil
}

// runJob deploys one job, writing its progress to the job's log (which the
// pusher follows) as well as to the worker's log.
func (e *env) runJob(ctx context.Context, s *session, sp *queue.Spool, j *queue.Job) error {
	lf, err := os.OpenFile(sp.LogPath(j.ID), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer lf.Close() //nolint:errcheck // each line is written through
	jl := logrus.New()
	jl.Out = io.MultiWriter(lf, e.stderr)
	jl.Formatter = redactingFormatter{pushFormatter{}, s.red}
	jl.Level = s.log.Level
	r := *s.runner
	r.Log = jl
	req := pipeline.Request{Rev: j.New, Kind: pipeline.KindDeploy, Push: pipeline.Push{User: j.Pusher, Ref: j.Ref, Old: j.Old, New: j.New}}
	if j.PlanOnly {
		req.Kind, req.PlanOnly = pipeline.KindPlan, true
	}
	rep, err := r.Run(ctx, req)
	// At info level the pusher already saw the plan and the summary stream
	// by as log lines: end with only what is new.
	streamed := jl.IsLevelEnabled(logrus.InfoLevel)
	text := ""
	if rep != nil && streamed {
		text = rep.Outcome()
	} else if rep != nil {
		text = rep.Text()
	}
	if err != nil {
		_, _ = fmt.Fprintf(lf, "%s%s (NOT recorded: %v)\n", doneMarker, rep.Summary, err)
		return err
	}
	if ctx.Err() != nil {
		// Stopped (SIGTERM from runner serve or systemd, Ctrl-C): the
		// interrupted run is recorded, but the job is not done. Returning
		// an error keeps it in running/, where the next worker picks it up;
		// a follower keeps following (no done marker) and starts one.
		_, _ = fmt.Fprintf(lf, "runner: the worker was stopped mid-deployment; the next worker resumes it\n")
		return fmt.Errorf("deployment of %s interrupted: %w", j.New[:min(7, len(j.New))], context.Cause(ctx))
	}
	if text = strings.TrimRight(text, "\n"); text != "" {
		text += "\n"
	}
	_, err = fmt.Fprintf(lf, "%s%sstatus recorded on branch %s: git fetch origin %s && git show origin/%s:STATUS.md\n",
		text, doneMarker, s.repo.StatusBranch, s.repo.StatusBranch, s.repo.StatusBranch)
	return err
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// pushFormatter renders log entries for a pusher's terminal:
// "runner: <resource> <action>: <message>".
type pushFormatter struct{}

func (pushFormatter) Format(en *logrus.Entry) ([]byte, error) {
	var b strings.Builder
	b.WriteString("runner: ")
	if r, ok := en.Data["resource"]; ok {
		fmt.Fprintf(&b, "%v", r)
		if a, ok := en.Data["action"]; ok {
			fmt.Fprintf(&b, " (%v)", a)
		}
		b.WriteString(": ")
	}
	if en.Level <= logrus.WarnLevel {
		b.WriteString(strings.ToUpper(en.Level.String()) + ": ")
	}
	b.WriteString(en.Message)
	for _, k := range []string{"resources", "attempt", "wait", "ms", "status"} {
		if v, ok := en.Data[k]; ok {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
	}
	b.WriteByte('\n')
	return []byte(b.String()), nil
}

// spoolSession opens the session of a command that works on the repo's job
// queue (the post-receive hook, the worker) and the queue itself.
func (e *env) spoolSession(f *flags) (*session, *queue.Spool, error) {
	s, err := e.session(f)
	if err != nil {
		return nil, nil, err
	}
	sp, err := s.spool()
	if err != nil {
		return nil, nil, exitError{exitFailed, err}
	}
	return s, sp, nil
}
