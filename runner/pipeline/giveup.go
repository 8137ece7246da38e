package pipeline

import "github.com/gitops-runner/gitops-runner/runner/gitstore"

// RecordGivenUp records that a pushed commit will not be run again because
// the workers running it died (reason says how, e.g. "the worker running
// this job died twice (last: killed by signal 9); not retried"): a failed
// status commit and a note, inventory unchanged. An apply the dead worker
// left half done stays in the journal; the next run recovers it.
func (r *Runner) RecordGivenUp(commit, reason string, push Push, planOnly bool) (*Report, error) {
	r.defaults()
	kind := KindDeploy
	if planOnly {
		kind = KindPlan
	}
	rep := r.newReport(Request{Kind: kind, Push: push})
	r.fail(rep, StageWorker, Diagnostics{{Summary: r.Redact(reason),
		Hint: "the commit may exhaust the worker (memory, time): run `runner plan --rev " + gitstore.Short(commit) + "` by hand to see where; push a fix, or `runner apply` once the cause is gone"}})
	return rep, r.recordNotRun(rep, commit)
}
