package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
	Schema  string `json:"schema"`
	RunID   string `json:"runId"`
	Kind    string `json:"kind"` // "deploy", "replay" or "plan"
	Result  Result `json:"result"`
	Summary string `json:"summary"`
	// Stage is the step a failed run stopped in (load, decode, observe,
	// plan, policy, apply).
	Stage  string `json:"stage,omitempty"`
	Source struct {
		Commit   string `json:"commit"`
		Branch   string `json:"branch"`
		PushedBy string `json:"pushedBy,omitempty"`
		Subject  string `json:"subject"`
	} `json:"source"`
	Started    time.Time      `json:"started"`
	Finished   time.Time      `json:"finished"`
	DurationMS int64          `json:"durationMs"`
	Counts     map[string]int `json:"counts"`
	Changed    int            `json:"changed"`
	Plan       []PlanEntry    `json:"plan"`
	Steps      []StepEntry    `json:"steps"`
	Policy     PolicyResult   `json:"policy"`
	Errors     Diagnostics    `json:"errors,omitempty"`
	// Warnings are standing warnings of the backends (e.g. TLS checks off).
	Warnings []string `json:"warnings,omitempty"`
	// Live is what the backends summarized of the live world for policies
	// (e.g. Proxmox node capacities); push-time checks reuse it.
	Live    map[string]any   `json:"live,omitempty"`
	Timings map[string]int64 `json:"timingsMs,omitempty"`
	// SupersededBy is the newer commit that made this push not run.
	SupersededBy string `json:"supersededBy,omitempty"`
}

// PlanEntry is one planned change in a report.
type PlanEntry struct {
	ID     string              `json:"id"`
	Action steps.Action        `json:"action"`
	Fields []steps.FieldChange `json:"fields,omitempty"`
	Notes  []string            `json:"notes,omitempty"`
}

// StepEntry is one applied change in a report.
type StepEntry struct {
	ID             string       `json:"id"`
	Action         steps.Action `json:"action"`
	Status         steps.Status `json:"status"`
	Attempts       int          `json:"attempts,omitempty"`
	DurationMS     int64        `json:"durationMs"`
	Error          string       `json:"error,omitempty"`
	Hint           string       `json:"hint,omitempty"`
	SkippedBecause string       `json:"skippedBecause,omitempty"`
	Log            []string     `json:"log,omitempty"`
}

func shortHash(h string) string { return short(h) }

// summarize sets Summary and Changed from the rest of the report.
func (r *Report) summarize() {
	verb := "deploy " + shortHash(r.Source.Commit)
	switch r.Kind {
	case "replay":
		verb = "replay of " + shortHash(r.Source.Commit)
	case "plan":
		verb = "plan " + shortHash(r.Source.Commit)
	case "drift":
		verb = "drift check " + shortHash(r.Source.Commit)
	}
	ok, failed, skipped := 0, 0, 0
	for _, s := range r.Steps {
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
		r.Summary = fmt.Sprintf("%s: ok, %d changed", verb, ok)
	case ResultDenied:
		r.Summary = fmt.Sprintf("%s: denied, %d policy violation%s", verb, len(r.Policy.Deny), plural(len(r.Policy.Deny)))
	case ResultSuperseded:
		r.Summary = fmt.Sprintf("%s: superseded by %s", verb, shortHash(r.SupersededBy))
	case ResultPlanned:
		r.Summary = fmt.Sprintf("%s: %d to change", verb, countChanges(r.Plan))
	default:
		if r.Stage == "apply" {
			r.Summary = fmt.Sprintf("%s: failed, %d changed, %d failed, %d skipped", verb, ok, failed, skipped)
		} else {
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
	fmt.Fprintf(&b, "Run-ID: %s\n", r.RunID)
	return b.String()
}

// NoteLine renders the line added to the note on the source commit.
func (r *Report) NoteLine(statusCommit string) string {
	return fmt.Sprintf("%s (run %s, status %s, %s)", r.Summary, r.RunID, shortHash(statusCommit), r.Finished.UTC().Format(time.RFC3339))
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

// Markdown renders STATUS.md: a summary line, the plan as a table, each step
// with result and duration, policy findings, and errors with hints.
func (r *Report) Markdown() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Summary)
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Result | **%s** |\n", r.Result)
	fmt.Fprintf(&b, "| Commit | `%s` %s |\n", shortHash(r.Source.Commit), mdEscape(r.Source.Subject))
	fmt.Fprintf(&b, "| Branch | %s |\n", r.Source.Branch)
	if r.Source.PushedBy != "" {
		fmt.Fprintf(&b, "| Pushed by | %s |\n", mdEscape(r.Source.PushedBy))
	}
	fmt.Fprintf(&b, "| Run | `%s`, %s, %s |\n", r.RunID, r.Started.UTC().Format(time.RFC3339), fmtMS(r.DurationMS))
	if r.Stage != "" && r.Result == ResultFailed {
		fmt.Fprintf(&b, "| Stopped in | %s |\n", r.Stage)
	}
	b.WriteString("\n")

	if len(r.Errors) > 0 {
		b.WriteString("## Errors\n\n")
		for _, d := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", mdIndent(d.String()))
		}
		b.WriteString("\n")
	}
	if len(r.Warnings) > 0 {
		b.WriteString("## Warnings\n\n")
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "- %s\n", mdEscape(w))
		}
		b.WriteString("\n")
	}
	if len(r.Policy.Deny)+len(r.Policy.Warn) > 0 {
		b.WriteString("## Policy\n\n")
		for _, f := range r.Policy.Deny {
			fmt.Fprintf(&b, "- **deny** %s%s\n", mdEscape(f.Message), where(f))
		}
		for _, f := range r.Policy.Warn {
			fmt.Fprintf(&b, "- warn %s%s\n", mdEscape(f.Message), where(f))
		}
		b.WriteString("\n")
	}

	changed := 0
	for _, p := range r.Plan {
		if p.Action != steps.NoOp {
			changed++
		}
	}
	fmt.Fprintf(&b, "## Plan\n\n%d resources, %d to change (%s).\n\n", len(r.Plan), changed, countsLine(r.Counts))
	if changed > 0 {
		b.WriteString("| Action | Resource | Changes |\n|---|---|---|\n")
		for _, p := range r.Plan {
			if p.Action == steps.NoOp {
				continue
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s |\n", p.Action, p.ID, mdEscape(fieldsLine(p)))
		}
		b.WriteString("\n")
	}

	if len(r.Steps) > 0 {
		b.WriteString("## Steps\n\n| Resource | Action | Result | Attempts | Duration |\n|---|---|---|---|---|\n")
		for _, s := range r.Steps {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %d | %s |\n", s.ID, s.Action, s.Status, s.Attempts, fmtMS(s.DurationMS))
		}
		b.WriteString("\n")
		for _, s := range r.Steps {
			if s.Error == "" && s.SkippedBecause == "" {
				continue
			}
			fmt.Fprintf(&b, "### %s %s: %s\n\n", s.Action, s.ID, s.Status)
			if s.Error != "" {
				fmt.Fprintf(&b, "```\n%s\n```\n\n", s.Error)
			}
			if s.Hint != "" {
				fmt.Fprintf(&b, "What to do: %s\n\n", s.Hint)
			}
		}
	}
	return []byte(b.String())
}

func where(f Finding) string {
	if f.File == "" {
		return ""
	}
	if f.Line > 0 {
		return fmt.Sprintf(" (`%s:%d`)", f.File, f.Line)
	}
	return fmt.Sprintf(" (`%s`)", f.File)
}

func countsLine(c map[string]int) string {
	order := []steps.Action{steps.Create, steps.Update, steps.Replace, steps.Delete, steps.NoOp}
	var parts []string
	for _, a := range order {
		if n := c[string(a)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

func fieldsLine(p PlanEntry) string {
	var parts []string
	for _, f := range p.Fields {
		s := fmt.Sprintf("%s: %s → %s", f.Path, fmtValue(f.Before), fmtValue(f.After))
		if f.Effect != "" {
			s += " (" + f.Effect + ")"
		}
		parts = append(parts, s)
	}
	parts = append(parts, p.Notes...)
	if len(parts) > 8 {
		parts = append(parts[:8], fmt.Sprintf("… %d more", len(parts)-8))
	}
	return strings.Join(parts, "; ")
}

func fmtValue(v any) string {
	if v == nil {
		return "∅"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	s := string(b)
	if len([]rune(s)) > 60 {
		s = string([]rune(s)[:57]) + "…"
	}
	return s
}

func fmtMS(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	if d < time.Second {
		return fmt.Sprintf("%d ms", ms)
	}
	return d.Round(100 * time.Millisecond).String()
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func mdIndent(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }

// stepHint says what to do about a failed or skipped step.
func stepHint(o steps.Outcome) string {
	switch o.Status {
	case steps.StatusFailed:
		if steps.IsTransient(o.Err) {
			return fmt.Sprintf("the error looked transient and was tried %d times; check the backend's health, then push again or run `runner replay` of this commit", o.Attempts)
		}
		return "fix the spec or the backend as the error says, then push again; resources that did not depend on this one were applied"
	case steps.StatusSkipped:
		return "not attempted because " + o.SkippedBecause.String() + " failed; fix that one first"
	case steps.StatusCanceled:
		return "the run was stopped before this change started; the next run applies it"
	}
	return ""
}

func planEntries(p *steps.Plan) ([]PlanEntry, map[string]int) {
	counts := map[string]int{}
	if p == nil {
		return []PlanEntry{}, counts
	}
	out := make([]PlanEntry, 0, len(p.Changes))
	for _, c := range p.Changes {
		counts[string(c.Action)]++
		out = append(out, PlanEntry{ID: c.ID.String(), Action: c.Action, Fields: c.Fields, Notes: c.Notes})
	}
	return out, counts
}

func stepEntries(outs []steps.Outcome, redact func(string) string) []StepEntry {
	out := []StepEntry{}
	for _, o := range outs {
		if o.Status == steps.StatusNoOp {
			continue
		}
		e := StepEntry{ID: o.ID.String(), Action: o.Action, Status: o.Status, Attempts: o.Attempts,
			DurationMS: o.Duration.Milliseconds(), Hint: stepHint(o), Log: o.Log}
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

// Text renders the report for a terminal: the summary, the plan with
// field-level changes, failed steps and errors with hints.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Summary)
	for _, d := range r.Errors {
		fmt.Fprintf(&b, "\nerror: %s\n", mdIndent(d.String()))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "\nwarning: %s\n", w)
	}
	for _, f := range r.Policy.Deny {
		fmt.Fprintf(&b, "\ndenied: %s%s\n", f.Message, strings.ReplaceAll(where(f), "`", ""))
	}
	for _, f := range r.Policy.Warn {
		fmt.Fprintf(&b, "\nwarning: %s%s\n", f.Message, strings.ReplaceAll(where(f), "`", ""))
	}
	if len(r.Plan) > 0 {
		fmt.Fprintf(&b, "\n%d resources: %s\n", len(r.Plan), countsLine(r.Counts))
	}
	sigils := map[steps.Action]string{steps.Create: "+", steps.Update: "~", steps.Replace: "±", steps.Delete: "-"}
	for _, p := range r.Plan {
		if p.Action == steps.NoOp {
			continue
		}
		fmt.Fprintf(&b, "  %s %-7s %s\n", sigils[p.Action], p.Action, p.ID)
		if p.Action == steps.Create || p.Action == steps.Delete {
			// Every field is new (or gone): one compact line says enough.
			if line := specLine(p); line != "" {
				fmt.Fprintf(&b, "      %s\n", line)
			}
			continue
		}
		for _, f := range p.Fields {
			eff := ""
			if f.Effect != "" {
				eff = "  (" + f.Effect + ")"
			}
			fmt.Fprintf(&b, "      %s: %s → %s%s\n", f.Path, fmtValue(f.Before), fmtValue(f.After), eff)
		}
		for _, n := range p.Notes {
			fmt.Fprintf(&b, "      note: %s\n", n)
		}
	}
	for _, s := range r.Steps {
		if s.Status == steps.StatusOK {
			continue
		}
		fmt.Fprintf(&b, "\n%s %s: %s\n", s.Action, s.ID, s.Status)
		if s.Error != "" {
			fmt.Fprintf(&b, "  %s\n", strings.ReplaceAll(s.Error, "\n", "\n  "))
		}
		if s.Hint != "" {
			fmt.Fprintf(&b, "  what to do: %s\n", s.Hint)
		}
	}
	return b.String()
}

// specLine renders the fields of a create or delete as "k=v k=v", cut to
// one terminal line.
func specLine(p PlanEntry) string {
	var parts []string
	for _, f := range p.Fields {
		v := f.After
		if p.Action == steps.Delete {
			v = f.Before
		}
		if v == nil {
			continue
		}
		parts = append(parts, f.Path+"="+fmtValue(v))
	}
	line := strings.Join(parts, " ")
	if r := []rune(line); len(r) > 110 {
		line = string(r[:109]) + "…"
	}
	return line
}

func countChanges(plan []PlanEntry) int {
	n := 0
	for _, p := range plan {
		if p.Action != steps.NoOp {
			n++
		}
	}
	return n
}
