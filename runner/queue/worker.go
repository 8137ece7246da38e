package queue

import (
	"context"
	"fmt"
	"time"
)

// DefaultMaxAttempts is how many workers may die running one job before the
// queue gives up on it.
const DefaultMaxAttempts = 2

// Worker drains a repository's spool under its lock: at most one worker per
// repository runs jobs; only the newest waiting job is applied and the older
// ones are recorded as superseded; a job a killed worker left running is run
// again (safe: applying converges), unless workers died running it
// MaxAttempts times: then it is given up, so a push that kills its worker
// (out of memory, a crash) cannot stall the queue forever.
type Worker struct {
	Spool  *Spool
	GitDir string
	// Run deploys one job and records it.
	Run func(ctx context.Context, j *Job) error
	// Supersede records that old will not run because by is newer.
	Supersede func(ctx context.Context, old, by *Job) error
	// GiveUp records that j will not run again because the workers running
	// it died MaxAttempts times; reason says so, for the status history.
	// Nil: such a job runs again, however often its workers die.
	GiveUp func(ctx context.Context, j *Job, reason string) error
	// MaxAttempts is how many workers may die running a job before it is
	// given up (default DefaultMaxAttempts).
	MaxAttempts int
	// Wait makes Drain wait for a busy lock instead of leaving the work to
	// its holder, so the queue is empty when Drain returns.
	Wait bool
}

// Drain runs jobs until the spool is empty. If another worker holds the lock
// it returns at once: that worker drains the spool, and looks again after
// releasing the lock, so a job added at any moment is never stranded.
func (w *Worker) Drain(ctx context.Context) error {
	for {
		l, ok, err := TryLockRepo(w.GitDir)
		if err != nil {
			return err
		}
		if !ok && w.Wait {
			l, err = LockRepo(ctx, w.GitDir, nil)
			if err != nil {
				return err
			}
			ok = true
		}
		if !ok {
			return nil
		}
		err = w.drainLocked(ctx)
		if uerr := l.Unlock(); err == nil {
			err = uerr
		}
		if err != nil {
			return err
		}
		// A job may have arrived between our last look and the unlock.
		p, err := w.Spool.Pending()
		if err != nil || len(p) == 0 || ctx.Err() != nil {
			return err
		}
	}
}

func (w *Worker) drainLocked(ctx context.Context) error {
	// We hold the lock: anything in running/ belongs to a dead worker.
	orphans, err := w.Spool.Running()
	if err != nil {
		return err
	}
	for _, j := range orphans {
		if w.GiveUp != nil && j.Attempts >= w.maxAttempts() {
			if err := w.GiveUp(ctx, j, deathReason(j)); err != nil {
				return fmt.Errorf("record job %s as given up: %w", j.ID, err)
			}
			if err := w.Spool.Finish(j); err != nil {
				return err
			}
			continue
		}
		if err := w.Spool.Requeue(j); err != nil {
			return err
		}
	}
	for ctx.Err() == nil {
		pending, err := w.Spool.Pending()
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}
		// Plan-only pushes run on their own; of the deploys only the newest
		// runs and the older ones are superseded.
		var deploys []*Job
		for _, j := range pending {
			if !j.PlanOnly {
				deploys = append(deploys, j)
				continue
			}
			if err := w.runOne(ctx, j); err != nil {
				return err
			}
		}
		if len(deploys) == 0 {
			continue
		}
		newest := deploys[len(deploys)-1]
		for _, old := range deploys[:len(deploys)-1] {
			if err := w.Supersede(ctx, old, newest); err != nil {
				return fmt.Errorf("record job %s as superseded: %w", old.ID, err)
			}
			if err := w.Spool.Drop(old); err != nil {
				return err
			}
		}
		if err := w.runOne(ctx, newest); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (w *Worker) runOne(ctx context.Context, j *Job) error {
	if err := w.Spool.Take(j); err != nil {
		return err
	}
	if err := w.Run(ctx, j); err != nil {
		// Leave the job in running/: the next worker retries it. This
		// worker is alive, so the attempt is not a death.
		if serr := w.Spool.Survived(j); serr != nil {
			return fmt.Errorf("job %s: %w (and %w)", j.ID, err, serr)
		}
		return fmt.Errorf("job %s: %w", j.ID, err)
	}
	return w.Spool.Finish(j)
}

func (w *Worker) maxAttempts() int {
	if w.MaxAttempts > 0 {
		return w.MaxAttempts
	}
	return DefaultMaxAttempts
}

// deathReason says why a job is given up, for the status history.
func deathReason(j *Job) string {
	last := j.Died
	if last == "" {
		last = fmt.Sprintf("worker pid %d, which took it at %s, ended without finishing it: killed, or out of memory", j.TakenBy, j.TakenAt.Format(time.RFC3339))
	}
	return fmt.Sprintf("the worker running this job died %s (last: %s); not retried", times(j.Attempts), last)
}

func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}
