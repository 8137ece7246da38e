package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Markdown renders STATUS.md: a summary line, the plan as a table, each step
// with result and duration, policy findings, and errors with hints.
func (r *Report) Markdown() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Summary)
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Result | **%s** |\n", r.Result)
	fmt.Fprintf(&b, "| Commit | `%s` %s |\n", gitstore.Short(r.Source.Commit), mdEscape(r.Source.Subject))
	fmt.Fprintf(&b, "| Branch | %s |\n", r.Source.Branch)
	if r.Source.PushedBy != "" {
		fmt.Fprintf(&b, "| Pushed by | %s |\n", mdEscape(r.Source.PushedBy))
	}
	if r.Replay != nil {
		by := r.Replay.By
		if by == "" {
			by = "(unknown)"
		}
		replaced := "nothing deployed before"
		if r.Replay.Replaced != "" {
			replaced = "replacing `" + gitstore.Short(r.Replay.Replaced) + "`"
		}
		fmt.Fprintf(&b, "| Replayed by | %s, %s |\n", mdEscape(by), replaced)
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

	changed := r.ToChange()
	fmt.Fprintf(&b, "## Plan\n\n%d resources, %d to change (%s).\n\n", len(r.Plan), changed, countsLine(r.Counts))
	if line := r.Observed.line(); line != "" {
		b.WriteString(line + "\n\n")
	}
	if changed+r.Counts["rename"] > 0 {
		b.WriteString("| Action | Resource | Changes |\n|---|---|---|\n")
		for _, p := range r.Plan {
			if !p.shown() {
				continue
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s |\n", p.label(), p.ID, mdEscape(fieldsLine(p)))
		}
		b.WriteString("\n")
	}

	if len(r.Applied) > 0 {
		b.WriteString("## Steps\n\n| Resource | Action | Result | Attempts | Duration |\n|---|---|---|---|---|\n")
		for _, s := range r.Applied {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %d | %s |\n", s.ID, s.Action, s.Status, s.Attempts, fmtMS(s.DurationMS))
		}
		b.WriteString("\n")
		for _, s := range r.Applied {
			if s.Error == "" && s.SkippedBecause == "" && s.Blocked == "" {
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
	order := []steps.Action{steps.Create, steps.Update, steps.Replace, steps.Delete, steps.Adopt, steps.Release, steps.NoOp}
	var parts []string
	for _, a := range order {
		if n := c[string(a)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if n := c["rename"]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d renamed", n))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// fieldsLine renders every field change and note of a plan entry on one
// line, "; "-separated: nothing is left out, so the field that made a
// change fail is always there to read. A create or delete lists its
// values instead (specParts).
func fieldsLine(p PlanEntry) string {
	var parts []string
	if p.Blocked != "" {
		parts = append(parts, "blocked: "+p.Blocked)
	}
	if p.Action == steps.Create || p.Action == steps.Delete {
		return strings.Join(append(append(parts, specParts(p)...), p.Notes...), "; ")
	}
	for _, f := range p.Fields {
		parts = append(parts, changeText(f))
	}
	return strings.Join(append(parts, p.Notes...), "; ")
}

// changeText renders one field change: "path: before → after", or for a
// list element "path: added value" / "path: removed value", with its effect.
func changeText(f steps.FieldChange) string {
	var s string
	switch {
	case steps.IsElement(f.Path) && f.Before == nil:
		s = f.Path + ": added " + fmtValue(f.After)
	case steps.IsElement(f.Path) && f.After == nil:
		s = f.Path + ": removed " + fmtValue(f.Before)
	default:
		b, a := fmtPair(f.Before, f.After)
		s = f.Path + ": " + b + " → " + a
	}
	if f.Effect != "" {
		s += " (" + string(f.Effect) + ")"
	}
	return s
}

const (
	// shortValue is how long (in runes) both sides of a change may be
	// before fmtPair elides what they have in common.
	shortValue = 60
	// longValue is the most of one value a report shows; longer ones end
	// with how much was left out.
	longValue = 300
	// elideContext is how much common text fmtPair keeps around a difference.
	elideContext = 12
)

// fmtValue renders a value as JSON ("∅" for none), whole unless it is
// longer than longValue runes.
func fmtValue(v any) string { return capRunes([]rune(jsonText(v))) }

func jsonText(v any) string {
	if v == nil {
		return "∅"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

func capRunes(r []rune) string {
	if len(r) > longValue {
		return fmt.Sprintf("%s… (%d more characters)", string(r[:longValue]), len(r)-longValue)
	}
	return string(r)
}

// fmtPair renders the two sides of a change. Short values are shown whole;
// of long ones, what they share at the start and the end is elided, so the
// difference is what shows ("…-host-a.example…" → "…-host-b.example…").
func fmtPair(before, after any) (string, string) {
	b, a := []rune(jsonText(before)), []rune(jsonText(after))
	if (len(b) <= shortValue && len(a) <= shortValue) || before == nil || after == nil {
		return capRunes(b), capRunes(a)
	}
	pre := 0
	for pre < len(b) && pre < len(a) && b[pre] == a[pre] {
		pre++
	}
	suf := 0
	for suf < len(b)-pre && suf < len(a)-pre && b[len(b)-1-suf] == a[len(a)-1-suf] {
		suf++
	}
	cut := func(r []rune) string {
		start, end, head, tail := 0, len(r), "", ""
		if pre > elideContext {
			start, head = pre-elideContext, "…"
		}
		if suf > elideContext {
			end, tail = len(r)-suf+elideContext, "…"
		}
		return head + capRunes(r[start:end]) + tail
	}
	return cut(b), cut(a)
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

// Text renders the report for a terminal: the summary, the plan with
// field-level changes, failed steps and errors with hints.
func (r *Report) Text() string { return r.text(true) }

// Outcome is Text without the summary line and the plan: what a pusher
// who watched the plan and the summary stream by as log lines has not
// seen (errors, warnings, policy findings, steps that did not succeed).
// Empty when there is nothing more to say.
func (r *Report) Outcome() string { return strings.TrimLeft(r.text(false), "\n") }

func (r *Report) text(full bool) string {
	var b strings.Builder
	if full {
		fmt.Fprintf(&b, "%s\n", r.Summary)
	}
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
	if full {
		r.planText(&b)
	}
	for _, s := range r.Applied {
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

// planText writes the plan: the counts, then each shown entry with its
// fields.
func (r *Report) planText(b *strings.Builder) {
	if len(r.Plan) > 0 {
		fmt.Fprintf(b, "\n%d resources: %s\n", len(r.Plan), countsLine(r.Counts))
	}
	sigils := map[steps.Action]string{steps.Create: "+", steps.Update: "~", steps.Replace: "±", steps.Delete: "-", steps.Adopt: "=", steps.Release: "."}
	for _, p := range r.Plan {
		if !p.shown() {
			continue
		}
		if p.RenamedFrom != "" && p.Action == steps.NoOp {
			fmt.Fprintf(b, "  → %-7s %s (was %s)\n", "rename", p.ID, p.RenamedFrom)
			continue
		}
		fmt.Fprintf(b, "  %s %-7s %s\n", sigils[p.Action], p.Action, p.ID)
		if p.Blocked != "" {
			fmt.Fprintf(b, "      blocked: %s\n", p.Blocked)
		}
		if p.Action == steps.Create || p.Action == steps.Delete {
			// Every field is new (or gone): compact "k=v" lines say enough.
			for _, line := range specLines(p, 100) {
				fmt.Fprintf(b, "      %s\n", line)
			}
		} else {
			for _, f := range p.Fields {
				fmt.Fprintf(b, "      %s\n", changeText(f))
			}
		}
		for _, n := range p.Notes {
			fmt.Fprintf(b, "      note: %s\n", n)
		}
	}
}

// specParts renders the fields of a create or delete as "k=v" parts, each
// value whole (see fmtValue).
func specParts(p PlanEntry) []string {
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
	return parts
}

// specLines renders the fields of a create or delete as "k=v k=v" lines
// of about width runes, broken between values, never inside one.
func specLines(p PlanEntry, width int) []string {
	var lines []string
	line := ""
	for _, part := range specParts(p) {
		if line != "" && len([]rune(line))+1+len([]rune(part)) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += part
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// shown reports whether a plan entry is listed: a change, or a rename.
func (p PlanEntry) shown() bool { return p.Action != steps.NoOp || p.RenamedFrom != "" }

// label is the entry's action as reports show it: "rename" for a rename
// that changes nothing else.
func (p PlanEntry) label() string {
	if p.RenamedFrom != "" && p.Action == steps.NoOp {
		return "rename"
	}
	return string(p.Action)
}

// line says in STATUS.md where the plan's live states came from, when some
// were not read in the run ("" when all were).
func (o *Observed) line() string {
	if o == nil || o.Cached == 0 || o.CachedSince == nil {
		return ""
	}
	return fmt.Sprintf("Live state: %d read live in this run, %d unchanged resources from a read of %s or later "+
		"(their spec and live summary had not changed; whatever the plan changes is read live, and the drift check reads everything).",
		o.Live, o.Cached, o.CachedSince.UTC().Format(time.RFC3339))
}
