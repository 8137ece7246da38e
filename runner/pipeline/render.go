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

	changed := r.toChange()
	fmt.Fprintf(&b, "## Plan\n\n%d resources, %d to change (%s).\n\n", len(r.Plan), changed, countsLine(r.Counts))
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
	if n := c["rename"]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d renamed", n))
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
			s += " (" + string(f.Effect) + ")"
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
		if !p.shown() {
			continue
		}
		if p.RenamedFrom != "" && p.Action == steps.NoOp {
			fmt.Fprintf(&b, "  → %-7s %s (was %s)\n", "rename", p.ID, p.RenamedFrom)
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
				eff = "  (" + string(f.Effect) + ")"
			}
			fmt.Fprintf(&b, "      %s: %s → %s%s\n", f.Path, fmtValue(f.Before), fmtValue(f.After), eff)
		}
		for _, n := range p.Notes {
			fmt.Fprintf(&b, "      note: %s\n", n)
		}
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
