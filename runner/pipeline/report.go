package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/steps"
)

// StatusSchema versions status.json.
const StatusSchema = "gitops-runner/status/v1"

// Result is how a run ended.
type Result string

// The results of a run.
const (
	ResultOK         Result = "ok"         // everything applied (or nothing to do)
	ResultFailed     Result = "failed"     // bad input, an observation error or a failed change
	ResultDenied     Result = "denied"     // a policy denied the plan; nothing applied
	ResultPlanned    Result = "planned"    // plan only; nothing applied
	ResultSuperseded Result = "superseded" // a newer push came first; not run
)

// Report is the outcome of one run: what status.json holds, and what
// STATUS.md, the status commit message and the note are rendered from.
type Report struct {
	Schema  string  `json:"schema"`
	RunID   string  `json:"runId"`
	Kind    RunKind `json:"kind"`
	Result  Result  `json:"result"`
	Summary string  `json:"summary"`
	// Stage is the step a failed or denied run stopped in.
	Stage  Stage `json:"stage,omitempty"`
	Source struct {
		Commit   string `json:"commit"`
		Branch   string `json:"branch"`
		PushedBy string `json:"pushedBy,omitempty"`
		Subject  string `json:"subject"`
	} `json:"source"`
	Started    time.Time       `json:"started"`
	Finished   time.Time       `json:"finished"`
	DurationMS int64           `json:"durationMs"`
	Counts     map[string]int  `json:"counts"`
	Changed    int             `json:"changed"`
	Plan       []PlanEntry     `json:"plan"`
	Applied    []AppliedChange `json:"steps"` // the changes the apply ran, with their outcome
	Policy     PolicyResult    `json:"policy"`
	Errors     Diagnostics     `json:"errors,omitempty"`
	// Warnings are standing warnings of the backends (e.g. TLS checks off).
	Warnings []string `json:"warnings,omitempty"`
	// Live is what the backends summarized of the live world for policies
	// (e.g. Proxmox node capacities); push-time checks reuse it.
	Live    map[string]any   `json:"live,omitempty"`
	Timings map[string]int64 `json:"timingsMs,omitempty"`
	// SupersededBy is the newer commit that made this push not run.
	SupersededBy string `json:"supersededBy,omitempty"`
	// Replay says who ran a replay and which deployed commit it replaced
	// (kind replay only).
	Replay *Replay `json:"replay,omitempty"`
	// Observed says which live states of the plan were read in this run
	// and which came from a read of an earlier run (nil: the run did not
	// get to plan).
	Observed *Observed `json:"observed,omitempty"`
}

// Observed counts the planned resources with a live state by where that
// state came from.
type Observed struct {
	// Live were read live in this run.
	Live int `json:"live"`
	// Cached were taken from a read of an earlier run: their spec and
	// their backend's cheap summary of them had not changed since
	// (Runner.ObserveCache). A drift check reads everything.
	Cached int `json:"cached"`
	// CachedSince is when the oldest of those reads was made (UTC).
	CachedSince *time.Time `json:"cachedSince,omitempty"`
}

// PlanEntry is one planned change in a report.
type PlanEntry struct {
	ID     string              `json:"id"`
	Action steps.Action        `json:"action"`
	Fields []steps.FieldChange `json:"fields,omitempty"`
	Notes  []string            `json:"notes,omitempty"`
	// RenamedFrom is the resource's previous name when the repo renamed
	// it and the runner moved its inventory entry (same live object).
	RenamedFrom string `json:"renamedFrom,omitempty"`
	// Blocked says why the change cannot be applied in this run (a guest
	// locked by a backup); the apply skips it and its dependents.
	Blocked string `json:"blocked,omitempty"`
	// CachedSince, when set, is when the live state this entry was planned
	// from was read, in an earlier run (see Observed); unset: read live.
	CachedSince *time.Time `json:"cachedSince,omitempty"`
}

// AppliedChange is one applied change in a report.
type AppliedChange struct {
	ID             string       `json:"id"`
	Action         steps.Action `json:"action"`
	Status         steps.Status `json:"status"`
	Attempts       int          `json:"attempts,omitempty"`
	DurationMS     int64        `json:"durationMs"`
	Error          string       `json:"error,omitempty"`
	Hint           string       `json:"hint,omitempty"`
	SkippedBecause string       `json:"skippedBecause,omitempty"`
	// Blocked is why a change skipped at plan time was not attempted.
	Blocked string   `json:"blocked,omitempty"`
	Log     []string `json:"log,omitempty"`
}

// summarize sets Summary and Changed from the rest of the report.
func (r *Report) summarize() {
	verb, changed := "deploy "+gitstore.Short(r.Source.Commit), "changed"
	switch r.Kind {
	case KindDeploy:
	case KindReplay:
		verb = "replay of " + gitstore.Short(r.Source.Commit)
	case KindPlan:
		verb = "plan " + gitstore.Short(r.Source.Commit)
	case KindDrift:
		verb = "drift check " + gitstore.Short(r.Source.Commit)
	case KindRenew:
		verb, changed = "renew "+gitstore.Short(r.Source.Commit), "renewed"
	case KindHeal:
		verb = "self-heal " + gitstore.Short(r.Source.Commit)
	}
	ok, failed, skipped := 0, 0, 0
	for _, s := range r.Applied {
		switch s.Status {
		case steps.StatusOK:
			ok++
		case steps.StatusFailed:
			failed++
		case steps.StatusSkipped, steps.StatusCanceled:
			skipped++
		}
	}
	r.Changed = ok
	switch r.Result {
	case ResultOK:
		r.Summary = fmt.Sprintf("%s: ok, %d %s", verb, ok, changed) + r.inventoryOnly("adopted", "released")
	case ResultDenied:
		r.Summary = fmt.Sprintf("%s: denied, %d policy violation%s", verb, len(r.Policy.Deny), plural(len(r.Policy.Deny)))
	case ResultSuperseded:
		r.Summary = fmt.Sprintf("%s: superseded by %s", verb, gitstore.Short(r.SupersededBy))
	case ResultPlanned:
		r.Summary = fmt.Sprintf("%s: %d to change", verb, r.ToChange()) + r.inventoryOnly("to adopt", "to release")
	default:
		switch r.Stage {
		case StageApply:
			r.Summary = fmt.Sprintf("%s: failed, %d %s, %d failed, %d skipped", verb, ok, changed, failed, skipped)
		case StageWorker:
			r.Summary = verb + ": failed, not retried: the workers running it died"
		default:
			r.Summary = fmt.Sprintf("%s: failed in %s, nothing applied", verb, r.Stage)
		}
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// CommitMessage renders the status commit message with its trailers.
func (r *Report) CommitMessage() string {
	var b strings.Builder
	b.WriteString(r.Summary)
	b.WriteString("\n\n")
	if r.Source.Subject != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Source.Subject)
	}
	fmt.Fprintf(&b, "Source-Commit: %s\n", r.Source.Commit)
	if r.Source.PushedBy != "" {
		fmt.Fprintf(&b, "Pushed-By: %s\n", r.Source.PushedBy)
	}
	if r.Replay != nil && r.Replay.By != "" {
		fmt.Fprintf(&b, "Replayed-By: %s\n", r.Replay.By)
	}
	fmt.Fprintf(&b, "Run-ID: %s\n", r.RunID)
	return b.String()
}

// NoteLine renders the line added to the note on the source commit.
func (r *Report) NoteLine(statusCommit string) string {
	return fmt.Sprintf("%s (run %s, status %s, %s)", r.Summary, r.RunID, gitstore.Short(statusCommit), r.Finished.UTC().Format(time.RFC3339))
}

// JSON renders status.json.
func (r *Report) JSON() []byte {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		// Report holds only JSON-safe values; this is a programming error.
		panic(fmt.Sprintf("status.json: %v", err))
	}
	return append(b, '\n')
}

// stepHint says what to do about a failed or skipped step; blocked maps the
// changes skipped at plan time to why.
func stepHint(o steps.Outcome, blocked map[steps.ID]string) string {
	switch o.Status {
	case steps.StatusFailed:
		if steps.IsTransient(o.Err) {
			return fmt.Sprintf("the error looked transient and was tried %d times; check the backend's health, then push again or run `runner replay` of this commit", o.Attempts)
		}
		return "fix the spec or the backend as the error says, then push again; resources that did not depend on this one were applied"
	case steps.StatusSkipped:
		if o.Blocked != "" {
			return "not attempted: " + o.Blocked + "; then push again or run `runner replay` of this commit (changes that depend on it were skipped too, the rest was applied)"
		}
		if why, ok := blocked[o.SkippedBecause]; ok {
			return "not attempted because " + o.SkippedBecause.String() + " was not: " + why
		}
		return "not attempted because " + o.SkippedBecause.String() + " failed; fix that one first"
	case steps.StatusCanceled:
		return "the run was stopped before this change started; the next run applies it"
	}
	return ""
}

func appliedChanges(outs []steps.Outcome, redact func(string) string) []AppliedChange {
	out := []AppliedChange{}
	blocked := map[steps.ID]string{}
	for _, o := range outs {
		if o.Blocked != "" {
			blocked[o.ID] = o.Blocked
		}
	}
	for _, o := range outs {
		if o.Status == steps.StatusNoOp {
			continue
		}
		e := AppliedChange{ID: o.ID.String(), Action: o.Action, Status: o.Status, Attempts: o.Attempts,
			DurationMS: o.Duration.Milliseconds(), Hint: stepHint(o, blocked), Blocked: o.Blocked, Log: o.Log}
		if o.Err != nil {
			e.Error = redact(o.Err.Error())
		}
		if o.SkippedBecause != (steps.ID{}) {
			e.SkippedBecause = o.SkippedBecause.String()
		}
		for i := range e.Log {
			e.Log[i] = redact(e.Log[i])
		}
		out = append(out, e)
	}
	return out
}

// ToChange is how many of the plan's entries write to a backend: not
// no-ops, adoptions or releases (those only move the inventory). The run
// summary, the drift record, the drift mail and the monitor's drift count
// all use it.
func (r *Report) ToChange() int {
	n := 0
	for _, e := range r.Plan {
		switch e.Action {
		case steps.NoOp, steps.Adopt, steps.Release:
		default:
			n++
		}
	}
	return n
}

// inventoryOnly is the summary's tail for the changes that only move the
// inventory: ", 2 adopted, 1 released" (words as given); "" when none.
func (r *Report) inventoryOnly(adopt, release string) string {
	s := ""
	if n := r.Counts[string(steps.Adopt)]; n > 0 {
		s += fmt.Sprintf(", %d %s", n, adopt)
	}
	if n := r.Counts[string(steps.Release)]; n > 0 {
		s += fmt.Sprintf(", %d %s", n, release)
	}
	return s
}
