package pipeline

import (
	"context"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/sirupsen/logrus"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Run runs one commit through the pipeline: load, decode, inventory,
// observe, plan, policy, apply, record. Unless the request is a plan, the
// report is recorded as a status commit and a note on the source commit,
// whatever the result. The returned error is for failures to record; the
// run's own failures are in the report.
func (r *Runner) Run(ctx context.Context, req Request) (*Report, error) {
	r.defaults()
	if req.Kind == "" {
		req.Kind = KindDeploy
	}
	if req.Rev == "" {
		req.Rev = r.Branch
	}
	rep := r.newReport(req)
	log := r.Log.WithField("run", rep.RunID)

	inv, err := r.run(ctx, req, rep, log)
	r.finish(rep)
	if err != nil {
		return rep, err
	}
	if (req.Kind == KindPlan && !req.PlanOnly) || rep.Source.Commit == "" {
		return rep, nil
	}
	if rep.Kind == KindDrift && ctx.Err() != nil {
		return rep, nil // an interrupted check found nothing worth recording
	}
	if rep.Kind == KindDrift && rep.Result == ResultPlanned && (rep.ToChange() == 0 && !r.recovers(rep) || r.sameDriftRecorded(rep)) {
		return rep, nil // in sync, or this drift is already the last status: nothing new to record
	}
	if (rep.Kind == KindDrift && rep.Result == ResultFailed || req.Reconcile != nil && rep.Result == ResultDenied) && r.sameDriftRecorded(rep) {
		return rep, nil // the check fails, or the policies deny, as last time: recorded once
	}
	return rep, r.record(rep, inv, log)
}

// PolicyInput runs steps 1–4 for a revision (nothing is applied or
// recorded) and returns the document the policies would judge — what
// `runner policy eval` prints. When a step fails, the input is nil and the
// report says why.
func (r *Runner) PolicyInput(ctx context.Context, rev string) (*PolicyInput, *Report) {
	r.defaults()
	req := Request{Rev: rev, Kind: KindPlan}
	if req.Rev == "" {
		req.Rev = r.Branch
	}
	rep := r.newReport(req)
	p, stage, ds := r.prepare(ctx, req, rep, r.Log.WithField("run", rep.RunID))
	if len(ds) > 0 {
		r.fail(rep, stage, ds)
	}
	r.finish(rep)
	if p == nil {
		return nil, rep
	}
	return p.input, rep
}

func (r *Runner) newReport(req Request) *Report {
	start := r.Now()
	rep := &Report{Schema: StatusSchema, Kind: req.Kind, RunID: req.RunID, Started: start, Counts: map[string]int{},
		Plan: []PlanEntry{}, Applied: []AppliedChange{}, Timings: map[string]int64{}}
	if rep.RunID == "" {
		rep.RunID = NewRunID(start)
	}
	rep.Source.Branch = r.Branch
	rep.Source.PushedBy = req.Push.User
	if req.Kind == KindReplay {
		rep.Replay = &Replay{By: oneLine(req.ReplayedBy)}
	}
	return rep
}

// finish closes a report: its duration, redacted errors and summary.
func (r *Runner) finish(rep *Report) {
	rep.Finished = r.Now()
	rep.DurationMS = rep.Finished.Sub(rep.Started).Milliseconds()
	for i := range rep.Errors {
		rep.Errors[i].Summary = clip(r.Redact(rep.Errors[i].Summary))
		rep.Errors[i].Detail = clip(r.Redact(rep.Errors[i].Detail))
	}
	rep.summarize()
}

// prepared is what steps 1–4 make of a commit: everything policy and apply
// need.
type prepared struct {
	commit plumbing.Hash
	loaded *Loaded
	inv    *Inventory
	plan   *steps.Plan
	input  *PolicyInput
	// renames and push are the rest of the policy input (restrict
	// rebuilds it).
	renames []Rename
	push    Push
}

// prepare runs load, decode, inventory, observe and plan, fills the report's
// source, plan, warnings and live facts, and builds the policy input. A
// failure names its stage.
func (r *Runner) prepare(ctx context.Context, req Request, rep *Report, log logrus.FieldLogger) (*prepared, Stage, Diagnostics) {
	h, err := r.Repo.Resolve(req.Rev)
	if err != nil {
		return nil, StageLoad, diagnose(err, "")
	}
	r.setSource(rep, h.String())
	if req.Kind.applies() {
		log = log.WithField("commit", gitstore.Short(h.String()))
	}

	done := r.time(rep, StageLoad, log)
	loaded, stage, ds := r.load(ctx, h, Vars{Branch: r.Branch, Pusher: req.Push.User}, nil, nil)
	done()
	if len(ds) > 0 {
		return nil, stage, ds
	}
	log.WithField("resources", len(loaded.Resources)).WithField("cached", loaded.Cached).Info("evaluated")

	inv, ds := r.inventory()
	if len(ds) > 0 {
		return nil, StageInventory, ds
	}
	if rep.Replay != nil {
		rep.Replay.Replaced = inv.Commit
	}
	targets, ds := Targets(r.Registry, loaded.Resources, inv)
	if len(ds) > 0 {
		return nil, StageInventory, ds
	}
	if req.releases() {
		releaseAdopted(targets, inv)
	}
	if targets, ds = Identities(r.Registry, targets); len(ds) > 0 {
		return nil, StagePlan, ds
	}

	opts := r.observeOptions(req)
	done = r.time(rep, StageObserve, log)
	live, ds := Observe(steps.WithObserveOptions(ctx, opts), r.Registry, targets)
	done()
	if len(ds) > 0 {
		return nil, StageObserve, ds
	}

	done = r.time(rep, StagePlan, log)
	plan, ds := MakePlan(r.Registry, loaded.Resources, inv, targets, live)
	done()
	// Nothing is changed from a read of an earlier run: if the plan would,
	// observe everything live and plan again.
	if n := keptChanges(plan, live, ds); n > 0 {
		log.WithField("resources", n).Info("the plan would change resources not read live in this run: reading everything live")
		opts.Full = true
		done = r.time(rep, StageObserve, log)
		live, ds = Observe(steps.WithObserveOptions(ctx, opts), r.Registry, targets)
		done()
		if len(ds) > 0 {
			return nil, StageObserve, ds
		}
		plan, ds = MakePlan(r.Registry, loaded.Resources, inv, targets, live)
	}
	rep.Warnings = r.backendWarnings()
	for _, w := range rep.Warnings {
		log.Warn(w)
	}
	if len(ds) > 0 {
		return nil, StagePlan, ds
	}
	rep.Plan, rep.Counts = planEntries(plan)
	rep.Observed = observedSummary(plan, rep.Plan)
	logPlan(log, rep.Plan)
	// A replay is the rollback itself: the warning is for what comes after.
	// Adopting or releasing counts: main would re-adopt what the replay
	// released.
	if w := r.replayWarning(inv, h); w.Summary != "" && len(rep.Plan) > rep.Counts[string(steps.NoOp)] && req.Kind != KindReplay {
		rep.Warnings = append(rep.Warnings, w.String())
		log.Warn(w.Summary)
	}

	rep.Live = r.liveSummary()
	renames, push := renamesOf(targets), r.pushOf(loaded, req.Push)
	in := BuildPolicyInput(loaded.Resources, plan, inv.Resources, renames, push, rep.Live)
	return &prepared{commit: h, loaded: loaded, inv: inv, plan: plan, input: in, renames: renames, push: push}, "", nil
}

// run composes the steps and fills rep. It returns the inventory to record
// (nil: keep the previous one), or an error when not even a failed status
// can be recorded.
func (r *Runner) run(ctx context.Context, req Request, rep *Report, log logrus.FieldLogger) (*Inventory, error) {
	p, stage, ds := r.prepare(ctx, req, rep, log)
	if len(ds) > 0 {
		r.fail(rep, stage, ds)
		return nil, nil
	}
	if req.Kind == KindDrift && req.Reconcile != nil {
		r.restrict(p, *req.Reconcile, rep, log)
	}

	if r.Policy != nil {
		done := r.time(rep, StagePolicy, log)
		res, ds := r.checkPolicy(ctx, r.Policy, p.loaded, p.input)
		done()
		if len(ds) > 0 {
			r.fail(rep, StagePolicy, ds)
			return nil, nil
		}
		rep.Policy = res
		for _, f := range res.Warn {
			log.Warn("policy: " + f.Message)
		}
		for _, f := range res.Deny {
			log.Error("policy denied: " + f.Message)
		}
		if len(res.Deny) > 0 {
			rep.Result, rep.Stage = ResultDenied, StagePolicy
			return nil, nil
		}
	}
	if !rep.Kind.applies() || req.PlanOnly {
		rep.Result = ResultPlanned
		return nil, nil
	}

	done := r.time(rep, StageApply, log)
	outs, ds := r.apply(ctx, p.loaded, p.plan, log)
	done()
	if len(ds) > 0 {
		r.fail(rep, StageApply, ds)
		return nil, nil
	}
	rep.Applied = appliedChanges(outs, r.Redact)
	rep.Result = ResultOK
	if !applied(outs) {
		rep.Result, rep.Stage = ResultFailed, StageApply
	}
	next, err := NextInventory(p.inv, p.loaded.Resources, p.plan, outs, p.commit.String())
	if next != nil {
		next.Replay = rep.Replay // a deploy clears it
	}
	return next, err
}

// time times one stage of a run into the report's timings.
func (r *Runner) time(rep *Report, stage Stage, log logrus.FieldLogger) func() {
	t := r.Now()
	log.WithField("step", string(stage)).Debug("start")
	return func() {
		ms := r.Now().Sub(t).Milliseconds()
		rep.Timings[string(stage)] = ms
		log.WithField("step", string(stage)).WithField("ms", ms).Debug("done")
	}
}

func (r *Runner) fail(rep *Report, stage Stage, ds Diagnostics) {
	rep.Result, rep.Stage = ResultFailed, stage
	for _, d := range ds {
		if d.Severity == "" {
			d.Severity = SeverityError
		}
		rep.Errors = append(rep.Errors, d)
	}
}
