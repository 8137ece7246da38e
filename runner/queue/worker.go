package queue

import (
	"context"
	"fmt"
)

// Worker drains a repository's spool under its lock: at most one worker per
// repository runs jobs; only the newest waiting job is applied and the older
// ones are recorded as superseded; a job a killed worker left running is run
// again (safe: applying converges).
type Worker struct {
	Spool  *Spool
	GitDir string
	// Run deploys one job and records it.
	Run func(ctx context.Context, j *Job) error
	// Supersede records that old will not run because by is newer.
	Supersede func(ctx context.Context, old, by *Job) error
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
		// Leave the job in running/: the next worker retries it.
		return fmt.Errorf("job %s: %w", j.ID, err)
	}
	return w.Spool.Finish(j)
}
