package pipeline

import (
	"crypto/rand"
	"encoding/hex"
	"time"

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
	// Isolate evaluates a commit's Jsonnet in a child process of the
	// runner (package sandbox), where the kernel enforces Limits: the
	// process is killed at Timeout, and its memory is capped at MaxMemory.
	// Without it, evaluation runs in this process and the limits are
	// watched, not enforced (tests, library use). Decoding stays here: it
	// is linear in the output, which the child bounds (MaxOutput), and the
	// backends' decoders need the configuration, secrets included, which
	// the child does not get.
	Isolate bool
	// EvalCache is a directory where evaluations are kept, so the worker
	// does not evaluate again what the push's check evaluated ("": none).
	EvalCache string
	// ObserveCache is a directory where the backends keep their last full
	// observation, so a push reads live only what can have changed ("":
	// none, every run reads everything live; steps.ObserveOptions).
	ObserveCache string
	Exec         steps.ExecOptions
	Log          logrus.FieldLogger
	// Redact removes secret values from text before it is logged or
	// recorded; nil leaves text unchanged.
	Redact func(string) string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Observer, when set, is told about each run once its status commit is
	// written (e.g. to mail the operator about a failure); nil: nobody.
	Observer Observer
}

// Observer is told about each run recorded on the status branch, after its
// status commit is written. It must not fail the run: it handles (logs) its
// own errors.
type Observer interface {
	Recorded(rep *Report, statusCommit string)
}

// RunKind says what a run is for; it names the run in its status commit.
type RunKind string

// Kinds of run.
const (
	KindDeploy RunKind = "deploy"
	KindReplay RunKind = "replay"
	KindPlan   RunKind = "plan"
	// KindDrift is a periodic plan of the deployed commit: recorded only
	// when the live state drifted from it, never applied.
	KindDrift RunKind = "drift"
	// KindRenew is a drift run that applied only renewals time made due
	// (Request.Reconcile); KindHeal one that also healed drift.
	KindRenew RunKind = "renew"
	KindHeal  RunKind = "heal"
)

// releases reports whether a run of this kind releases the adopted
// resources its commit does not declare instead of deleting them: a
// replay, or its dry run.
func (req Request) releases() bool { return req.Kind == KindReplay || req.ReplayPlan }

// applies reports whether a run of this kind applies its plan.
func (k RunKind) applies() bool {
	return k == KindDeploy || k == KindReplay || k == KindRenew || k == KindHeal
}

// Request says which commit to run and how.
type Request struct {
	// Rev is the revision to run (default: the deployed branch).
	Rev string
	// Kind is KindDeploy, KindReplay, KindPlan (nothing applied, nothing
	// recorded) or KindDrift.
	Kind RunKind
	// PlanOnly records a plan without applying (a push with -o
	// runner.plan-only): status "planned".
	PlanOnly bool
	// Push describes the push, when the run comes from one.
	Push Push
	// ReplayedBy is who ran `runner replay` (KindReplay): the Gitolite
	// user, else the OS user. It goes into the status commit's Replayed-By
	// trailer and status.json replay.by.
	ReplayedBy string
	// ReplayPlan, with KindPlan, plans the commit as a replay would apply
	// it (`runner replay --dry-run`): an adopted resource the commit does
	// not declare is released, not deleted.
	ReplayPlan bool
	// RunID names the run (default: generated).
	RunID string
	// Reconcile, with KindDrift, lets the run apply what it allows of
	// the deployed commit's plan (the run's kind becomes KindRenew or
	// KindHeal); the rest is recorded as drift. Nil applies nothing.
	Reconcile *Reconcile
	// Refresh says which live reads the run makes (default RefreshAuto; a
	// drift check always reads everything).
	Refresh Refresh
}

// Refresh says which live reads a run makes before it plans.
type Refresh string

const (
	// RefreshAuto reads live what can have changed: a backend may skip the
	// read of a resource whose spec and live summary are what they were at
	// its last full read (ObserveCache). Whatever the plan would change is
	// read live first.
	RefreshAuto Refresh = "auto"
	// RefreshFull reads every resource live (`runner plan --refresh=full`).
	RefreshFull Refresh = "full"
)

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
	// The deployed and status branches are always refs/heads/<name>, never
	// a tag or another ref of the same short name.
	r.Repo.PinBranches(r.Branch, r.StatusBranch)
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// NewRunID returns a sortable, unique run ID.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
