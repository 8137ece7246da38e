package pipeline

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/gitops-runner/gitops-runner/steps"
)

// apply is step 6: the write-ahead journal of what the plan creates or
// adopts, then the plan's changes in order. It returns every change's
// outcome; a diagnostic means nothing was applied.
func (r *Runner) apply(ctx context.Context, l *Loaded, plan *steps.Plan, log logrus.FieldLogger) ([]steps.Outcome, Diagnostics) {
	if err := r.writeJournal(l.Commit, l.Resources, plan); err != nil {
		return nil, Diagnostics{{Summary: "write-ahead journal: " + err.Error(),
			Hint: "check that the runner can write the repository's git directory; nothing was applied"}}
	}
	ex := r.Exec
	user := ex.OnEvent
	ex.OnEvent = func(e steps.Event) {
		logEvent(log, e, r.Redact)
		if user != nil {
			user(e)
		}
	}
	return steps.Execute(ctx, r.Registry, plan, ex), nil
}

// applied reports whether every change of an apply succeeded (or had
// nothing to do).
func applied(outs []steps.Outcome) bool {
	for _, o := range outs {
		if o.Status == steps.StatusFailed || o.Status == steps.StatusSkipped || o.Status == steps.StatusCanceled {
			return false
		}
	}
	return true
}

func logEvent(log logrus.FieldLogger, e steps.Event, redact func(string) string) {
	l := log.WithField("resource", e.ID.String()).WithField("action", string(e.Action))
	switch e.Type {
	case steps.EventStarted:
		if e.Attempt > 1 {
			l = l.WithField("attempt", e.Attempt)
		}
		l.Info("started")
	case steps.EventProgress:
		l.Info(redact(e.Message))
	case steps.EventRetry:
		l.WithField("wait", e.Wait.Round(time.Millisecond).String()).Warn("retrying: " + redact(e.Err.Error()))
	case steps.EventFinished:
		l = l.WithField("ms", e.Duration.Milliseconds())
		if e.Err != nil {
			l.Error("failed: " + redact(e.Err.Error()))
		} else {
			l.Info("done")
		}
	case steps.EventSkipped:
		l.Warn(e.Message)
	}
}
