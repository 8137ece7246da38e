package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/sirupsen/logrus"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Runner holds everything a run needs besides the request.
type Runner struct {
	Repo     *gitstore.Repo
	Registry *steps.Registry
	// Policy checks plans before apply; nil allows everything.
	Policy Policy
	// Entry is the file evaluated (default main.jsonnet).
	Entry string
	// Branch is the deployed branch (default main).
	Branch string
	// StatusBranch holds the status history (default status).
	StatusBranch string
	Limits       Limits
	Exec         steps.ExecOptions
	Log          logrus.FieldLogger
	// Redact removes secret values from text before it is logged or
	// recorded; nil leaves text unchanged.
	Redact func(string) string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Kinds of run.
const (
	KindDeploy = "deploy"
	KindReplay = "replay"
	KindPlan   = "plan"
	// KindDrift is a periodic plan of the deployed commit: recorded only
	// when the live state drifted from it, never applied.
	KindDrift = "drift"
)

// Request says which commit to run and how.
type Request struct {
	// Rev is the revision to run (default: the deployed branch).
	Rev string
	// Kind is KindDeploy, KindReplay or KindPlan (plan: nothing applied,
	// nothing recorded).
	Kind string
	// PlanOnly records a plan without applying (a push with -o
	// runner.plan-only): status "planned".
	PlanOnly bool
	// Push describes the push, when the run comes from one.
	Push Push
	// RunID names the run (default: generated).
	RunID string
	// InspectPolicy, if set, receives the policy input document (for
	// `runner policy eval`).
	InspectPolicy func(*PolicyInput)
}

func (r *Runner) defaults() {
	if r.Entry == "" {
		r.Entry = "main.jsonnet"
	}
	if r.Branch == "" {
		r.Branch = "main"
	}
	if r.StatusBranch == "" {
		r.StatusBranch = "status"
	}
	if r.Log == nil {
		l := logrus.New()
		l.Out = nopWriter{}
		r.Log = l
	}
	if r.Redact == nil {
		r.Redact = func(s string) string { return s }
	}
	if r.Now == nil {
		r.Now = time.Now
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// NewRunID returns a sortable, unique run ID.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Loaded is an evaluated and decoded commit.
type Loaded struct {
	// Commit is the full hash; Subject its message's first line.
	Commit    string
	Subject   string
	JSON      []byte
	Resources []steps.Resource
	// Snapshot is the commit's tree (for reading policy files).
	Snapshot *gitstore.Snapshot
}

// Load runs steps 1–2 for a revision: evaluate the commit's entry file and
// decode its resources. A bad commit gives Diagnostics.
func (r *Runner) Load(ctx context.Context, rev string, vars Vars) (*Loaded, error) {
	r.defaults()
	h, err := r.Repo.Resolve(rev)
	if err != nil {
		return nil, Diagnostics{{Summary: err.Error()}}
	}
	l, _, err := r.loadCommit(ctx, h, vars)
	return l, err
}

// loadCommit evaluates and decodes commit h; on failure it also names the
// step that failed ("load" or "decode").
func (r *Runner) loadCommit(ctx context.Context, h plumbing.Hash, vars Vars) (*Loaded, string, error) {
	snap, err := r.Repo.Snapshot(h)
	if err != nil {
		return nil, "load", Diagnostics{{Summary: err.Error()}}
	}
	vars.Commit = h.String()
	if vars.Branch == "" {
		vars.Branch = r.Branch
	}
	out, err := Evaluate(ctx, snap, r.Entry, vars, r.Limits)
	if err != nil {
		var ee *EvalError
		if errors.As(err, &ee) {
			return nil, "load", Diagnostics{{File: ee.File, Summary: ee.Message, Hint: ee.Hint}}
		}
		return nil, "load", err
	}
	rs, ds := Decode(r.Registry, r.Entry, out)
	if len(ds) > 0 {
		return nil, "decode", ds
	}
	subject, _, _ := strings.Cut(snap.Commit.Message, "\n")
	return &Loaded{Commit: h.String(), Subject: subject, JSON: out, Resources: rs, Snapshot: snap}, "", nil
}

// Run runs one commit through the pipeline: load, decode, observe, plan,
// policy, apply, report. Unless the request is a plan, the report is recorded
// as a status commit and a note on the source commit, whatever the result.
// The returned error is for failures to record; the run's own failures are
// in the report.
func (r *Runner) Run(ctx context.Context, req Request) (*Report, error) {
	r.defaults()
	if req.Kind == "" {
		req.Kind = KindDeploy
	}
	if req.Rev == "" {
		req.Rev = r.Branch
	}
	start := r.Now()
	rep := &Report{Schema: StatusSchema, Kind: req.Kind, RunID: req.RunID, Started: start, Counts: map[string]int{},
		Plan: []PlanEntry{}, Steps: []StepEntry{}, Timings: map[string]int64{}}
	if rep.RunID == "" {
		rep.RunID = NewRunID(start)
	}
	rep.Source.Branch = r.Branch
	rep.Source.PushedBy = req.Push.User
	log := r.Log.WithField("run", rep.RunID)

	inv, err := r.run(ctx, req, rep, log)
	rep.Finished = r.Now()
	rep.DurationMS = rep.Finished.Sub(start).Milliseconds()
	for i := range rep.Errors {
		rep.Errors[i].Summary = r.Redact(rep.Errors[i].Summary)
		rep.Errors[i].Detail = r.Redact(rep.Errors[i].Detail)
	}
	rep.summarize()
	if err != nil {
		return rep, err
	}
	if (req.Kind == KindPlan && !req.PlanOnly) || rep.Source.Commit == "" {
		return rep, nil
	}
	if req.Kind == KindDrift && rep.Result == ResultPlanned && (countChanges(rep.Plan) == 0 || r.sameDriftRecorded(rep)) {
		return rep, nil // in sync, or this drift is already the last status: nothing new to record
	}
	return rep, r.record(rep, inv, log)
}

// stage times one step of the pipeline.
func (r *Runner) stage(rep *Report, name string, log logrus.FieldLogger) func() {
	t := r.Now()
	log.WithField("step", name).Debug("start")
	return func() {
		ms := r.Now().Sub(t).Milliseconds()
		rep.Timings[name] = ms
		log.WithField("step", name).WithField("ms", ms).Debug("done")
	}
}

func (r *Runner) fail(rep *Report, stage string, ds Diagnostics) {
	rep.Result, rep.Stage = ResultFailed, stage
	rep.Errors = append(rep.Errors, ds...)
}

// run fills rep and returns the inventory to record (nil: keep the previous
// one), or an error when not even a failed status can be recorded.
func (r *Runner) run(ctx context.Context, req Request, rep *Report, log logrus.FieldLogger) (*Inventory, error) {
	// 1 load, 2 decode
	h, err := r.Repo.Resolve(req.Rev)
	if err != nil {
		r.fail(rep, "load", Diagnostics{{Summary: err.Error()}})
		return nil, nil
	}
	rep.Source.Commit = h.String()
	if c, err := r.Repo.Commit(h); err == nil {
		rep.Source.Subject, _, _ = strings.Cut(c.Message, "\n")
	}
	if req.Kind == KindReplay || req.Kind == KindDeploy {
		log = log.WithField("commit", short(h.String()))
	}
	done := r.stage(rep, "load", log)
	loaded, stage, err := r.loadCommit(ctx, h, Vars{Branch: r.Branch, Pusher: req.Push.User})
	done()
	if err != nil {
		var ds Diagnostics
		if !errors.As(err, &ds) {
			ds = Diagnostics{{Summary: err.Error()}}
		}
		r.fail(rep, stage, ds)
		return nil, nil
	}
	log.WithField("resources", len(loaded.Resources)).Info("evaluated")

	inv, err := ReadInventory(r.Repo, r.StatusBranch)
	if err != nil {
		r.fail(rep, "observe", Diagnostics{{Summary: err.Error()}})
		return nil, nil
	}
	if n, err := r.recoverJournal(inv); err != nil {
		r.fail(rep, "observe", Diagnostics{{Summary: err.Error()}})
		return nil, nil
	} else if n > 0 {
		log.WithField("resources", n).Warn("an earlier run was interrupted; the resources it was creating are owned")
	}
	targets, ds := Targets(r.Registry, loaded.Resources, inv)
	if len(ds) > 0 {
		r.fail(rep, "plan", ds)
		return nil, nil
	}

	// 3 observe
	done = r.stage(rep, "observe", log)
	live, err := Observe(ctx, r.Registry, targets)
	done()
	if err != nil {
		r.fail(rep, "observe", Diagnostics{{Summary: err.Error(), Hint: "check the backend's endpoint and credentials in the runner config; nothing was applied"}})
		return nil, nil
	}

	for _, b := range r.Registry.Backends() {
		if w, ok := b.(steps.Warner); ok {
			for _, msg := range w.Warnings() {
				msg = b.Name() + ": " + r.Redact(msg)
				log.Warn(msg)
				rep.Warnings = append(rep.Warnings, msg)
			}
		}
	}

	// 4 plan
	done = r.stage(rep, "plan", log)
	plan, ds := MakePlan(r.Registry, loaded.Resources, inv, targets, live)
	done()
	if len(ds) > 0 {
		r.fail(rep, "plan", ds)
		return nil, nil
	}
	rep.Plan, rep.Counts = planEntries(plan)
	for _, c := range plan.Changes {
		if c.Action != steps.NoOp {
			e := PlanEntry{Action: c.Action, Fields: c.Fields, Notes: c.Notes}
			detail := fieldsLine(e)
			if c.Action == steps.Create || c.Action == steps.Delete {
				detail = specLine(e)
			}
			log.WithField("resource", c.ID.String()).Info("plan: " + string(c.Action) + " " + detail)
		}
	}

	// 5 policy
	push := req.Push
	push.Commit, push.Message = h.String(), rep.Source.Subject
	if push.Ref == "" {
		push.Ref = "refs/heads/" + r.Branch
	}
	facts := r.liveSummary()
	rep.Live = facts
	in := BuildPolicyInput(loaded.Resources, plan, inv.Resources, push, facts)
	if req.InspectPolicy != nil {
		req.InspectPolicy(in)
	}
	if r.Policy != nil {
		done = r.stage(rep, "policy", log)
		files, err := ReadPolicyFiles(loaded.Snapshot)
		if err != nil {
			done()
			r.fail(rep, "policy", Diagnostics{{Summary: "read policy files: " + err.Error()}})
			return nil, nil
		}
		res, err := r.Policy.Check(ctx, files, in)
		done()
		if err != nil {
			r.fail(rep, "policy", Diagnostics{{Summary: err.Error(), Hint: "fix the policy at the position shown (`runner policy test` runs its tests); nothing was applied"}})
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
			rep.Result, rep.Stage = ResultDenied, "policy"
			return nil, nil
		}
	}
	if req.Kind == KindPlan || req.Kind == KindDrift {
		rep.Result = ResultPlanned
		return nil, nil
	}

	// 6 apply
	if err := r.writeJournal(h.String(), loaded.Resources, plan); err != nil {
		r.fail(rep, "apply", Diagnostics{{Summary: "write-ahead journal: " + err.Error(), Hint: "check that the runner can write the repository's git directory; nothing was applied"}})
		return nil, nil
	}
	done = r.stage(rep, "apply", log)
	ex := r.Exec
	user := ex.OnEvent
	ex.OnEvent = func(e steps.Event) {
		logEvent(log, e, r.Redact)
		if user != nil {
			user(e)
		}
	}
	outs := steps.Execute(ctx, r.Registry, plan, ex)
	done()
	rep.Steps = stepEntries(outs, r.Redact)
	rep.Result = ResultOK
	for _, o := range outs {
		if o.Status == steps.StatusFailed || o.Status == steps.StatusSkipped || o.Status == steps.StatusCanceled {
			rep.Result, rep.Stage = ResultFailed, "apply"
		}
	}
	next, err := NextInventory(inv, loaded.Resources, plan, outs, h.String())
	if err != nil {
		return nil, err
	}
	return next, nil
}

func (r *Runner) liveSummary() map[string]any {
	out := map[string]any{}
	for _, b := range r.Registry.Backends() {
		if s, ok := b.(steps.LiveSummarizer); ok {
			out[b.Name()] = s.LiveSummary()
		}
	}
	return out
}

func logEvent(log logrus.FieldLogger, e steps.Event, redact func(string) string) {
	l := log.WithField("resource", e.ID.String()).WithField("action", string(e.Action))
	switch e.Kind {
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

// record writes the status commit (STATUS.md, status.json, inventory.json)
// and the note on the source commit.
func (r *Runner) record(rep *Report, inv *Inventory, log logrus.FieldLogger) error {
	applied := inv != nil // the inventory of an apply, including any journal it recovered
	if inv == nil {
		prev, err := ReadInventory(r.Repo, r.StatusBranch)
		if err != nil {
			// Never overwrite an unreadable inventory with an empty one.
			return fmt.Errorf("record status: %w", err)
		}
		inv = prev
	}
	invJSON, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return fmt.Errorf("record status: %w", err)
	}
	files := map[string][]byte{
		"STATUS.md":      rep.Markdown(),
		"status.json":    rep.JSON(),
		"inventory.json": append(invJSON, '\n'),
	}
	c, err := r.Repo.AppendStatus(r.StatusBranch, files, rep.CommitMessage(), rep.Finished)
	if err != nil {
		return fmt.Errorf("record status on branch %s: %w", r.StatusBranch, err)
	}
	// The inventory of an apply is committed, with whatever the journal of
	// an interrupted run added: the journal is no longer needed. (A run
	// that stopped before applying kept the old inventory: keep the journal.)
	if applied {
		if err := r.clearJournal(); err != nil {
			return fmt.Errorf("remove %s: %w", JournalFile, err)
		}
	}
	if err := r.Repo.AddNote(plumbing.NewHash(rep.Source.Commit), rep.NoteLine(c.String()), rep.Finished); err != nil {
		return fmt.Errorf("add note to %s: %w", short(rep.Source.Commit), err)
	}
	log.WithField("status", short(c.String())).Info(rep.Summary)
	return nil
}

// CheckResult is the verdict of Check on a pushed commit.
type CheckResult struct {
	Commit    string
	Resources int
	Errors    Diagnostics
	Policy    PolicyResult
}

// Rejected reports whether the push should be refused.
func (c *CheckResult) Rejected() bool { return len(c.Errors) > 0 || len(c.Policy.Deny) > 0 }

// Check is the push-time check (steps 1, 2 and 5 without live state): it
// evaluates and decodes the commit, and runs the policies with an empty plan
// and no live state. It touches no backend. A run-time problem (the repo
// cannot be read) is an error; everything about the commit is in the result.
func (r *Runner) Check(ctx context.Context, commit string, push Push) (*CheckResult, error) {
	r.defaults()
	h, err := r.Repo.Resolve(commit)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{Commit: h.String()}
	loaded, _, err := r.loadCommit(ctx, h, Vars{Branch: r.Branch, Pusher: push.User})
	if err != nil {
		var ds Diagnostics
		if !errors.As(err, &ds) {
			return nil, err
		}
		res.Errors = ds
		return res, nil
	}
	res.Resources = len(loaded.Resources)
	if r.Policy == nil {
		return res, nil
	}
	inv, err := ReadInventory(r.Repo, r.StatusBranch)
	if err != nil {
		return nil, err
	}
	push.Commit = h.String()
	if c, err := r.Repo.Commit(h); err == nil && push.Message == "" {
		push.Message = c.Message
	}
	files, err := ReadPolicyFiles(loaded.Snapshot)
	if err != nil {
		return nil, err
	}
	// No backend is asked at push time; the live facts the last run saw
	// (e.g. node capacities) let policies such as capacity decide now.
	in := BuildPolicyInput(loaded.Resources, nil, inv.Resources, push, r.lastLive())
	pr, err := r.Policy.Check(ctx, files, in)
	if err != nil {
		res.Errors = append(res.Errors, Diagnostic{Summary: r.Redact(err.Error()), Hint: "fix the policy at the position shown"})
		return res, nil
	}
	res.Policy = pr
	return res, nil
}

// RecordSuperseded records that a pushed commit was not run because a newer
// push of the branch superseded it: a status commit and a note, inventory
// unchanged.
func (r *Runner) RecordSuperseded(commit, by string, push Push) (*Report, error) {
	r.defaults()
	now := r.Now()
	rep := &Report{Schema: StatusSchema, Kind: KindDeploy, RunID: NewRunID(now), Result: ResultSuperseded, Started: now, Finished: now,
		Counts: map[string]int{}, Plan: []PlanEntry{}, Steps: []StepEntry{}, SupersededBy: by}
	rep.Source.Commit, rep.Source.Branch, rep.Source.PushedBy = commit, r.Branch, push.User
	if h, err := r.Repo.Resolve(commit); err == nil {
		if c, err := r.Repo.Commit(h); err == nil {
			rep.Source.Subject, _, _ = strings.Cut(c.Message, "\n")
		}
	}
	rep.summarize()
	return rep, r.record(rep, nil, r.Log.WithField("run", rep.RunID))
}

// sameDriftRecorded reports whether the last status commit already records
// this drift (the same changes of the same commit), so a periodic check does
// not repeat it every interval.
func (r *Runner) sameDriftRecorded(rep *Report) bool {
	b, err := r.Repo.StatusFile(r.StatusBranch, "status.json")
	if err != nil || b == nil {
		return false
	}
	var last Report
	if err := json.Unmarshal(b, &last); err != nil || last.Kind != KindDrift || last.Source.Commit != rep.Source.Commit {
		return false
	}
	key := func(ps []PlanEntry) string {
		var parts []string
		for _, p := range ps {
			if p.Action != steps.NoOp {
				f, _ := json.Marshal(p.Fields)
				parts = append(parts, string(p.Action)+" "+p.ID+" "+string(f))
			}
		}
		return strings.Join(parts, "\n")
	}
	return key(last.Plan) == key(rep.Plan)
}

// lastLive is the live summary recorded by the last run (status.json), or
// nil.
func (r *Runner) lastLive() map[string]any {
	b, err := r.Repo.StatusFile(r.StatusBranch, "status.json")
	if err != nil || b == nil {
		return nil
	}
	var last struct {
		Live map[string]any `json:"live"`
	}
	if json.Unmarshal(b, &last) != nil {
		return nil
	}
	return last.Live
}
