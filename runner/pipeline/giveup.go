package pipeline

import (
	"strings"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
)

// RecordGivenUp records that a pushed commit will not be run again because
// the workers running it died (reason says how, e.g. "the worker running
// this job died twice (last: killed by signal 9); not retried"): a failed
// status commit and a note, inventory unchanged. An apply the dead worker
// left half done stays in the journal; the next run recovers it.
func (r *Runner) RecordGivenUp(commit, reason string, push Push, planOnly bool) (*Report, error) {
	r.defaults()
	now := r.Now()
	kind := KindDeploy
	if planOnly {
		kind = KindPlan
	}
	rep := &Report{Schema: StatusSchema, Kind: kind, RunID: NewRunID(now), Result: ResultFailed, Stage: StageWorker, Started: now, Finished: now,
		Counts: map[string]int{}, Plan: []PlanEntry{}, Applied: []AppliedChange{}, Timings: map[string]int64{},
		Errors: Diagnostics{{Summary: r.Redact(reason),
			Hint: "the commit may exhaust the worker (memory, time): run `runner plan --rev " + gitstore.Short(commit) + "` by hand to see where; push a fix, or `runner apply` once the cause is gone"}}}
	rep.Source.Commit, rep.Source.Branch, rep.Source.PushedBy = commit, r.Branch, push.User
	if h, err := r.Repo.Resolve(commit); err == nil {
		if c, err := r.Repo.Commit(h); err == nil {
			rep.Source.Subject, _, _ = strings.Cut(c.Message, "\n")
		}
	}
	rep.summarize()
	verb, _, _ := strings.Cut(rep.Summary, ": ")
	rep.Summary = verb + ": failed, not retried: the workers running it died"
	return rep, r.record(rep, nil, r.Log.WithField("run", rep.RunID))
}
