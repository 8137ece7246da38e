package pipeline

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Stage names a step of the pipeline; a failed run records the stage it
// stopped in (status.json "stage").
type Stage string

// The stages, in the order a run goes through them.
const (
	StageLoad      Stage = "load"      // resolve the commit, evaluate its Jsonnet
	StageDecode    Stage = "decode"    // decode the resources, check dependsOn
	StageInventory Stage = "inventory" // read what the runner owns, recover a journal
	StageObserve   Stage = "observe"   // ask the backends for the live state
	StagePlan      Stage = "plan"      // diff and order
	StagePolicy    Stage = "policy"    // OPA policies
	StageApply     Stage = "apply"     // run the changes
	StageRecord    Stage = "record"    // the status commit and note
	// StageWorker: the workers running the job died before it ended (the
	// queue gave it up, see RecordGivenUp).
	StageWorker Stage = "worker"
)

// Severity says whether a diagnostic stops the run.
type Severity string

// The severities of a diagnostic.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is a user-facing problem: what happened, where (file, resource,
// field) and what to do. Secrets are never part of one. A zero Severity is
// an error.
type Diagnostic struct {
	Severity Severity `json:"severity,omitempty"`
	Summary  string   `json:"summary"`
	Detail   string   `json:"detail,omitempty"`
	File     string   `json:"file,omitempty"`
	Resource string   `json:"resource,omitempty"`
	Field    string   `json:"field,omitempty"`
	Hint     string   `json:"hint,omitempty"`
}

// maxText caps the summary and the detail of a diagnostic as rendered: a
// value echoed from a hostile commit (an 8 MiB name) must not become 8 MiB
// of remote: lines, logs and STATUS.md.
const maxText = 2000

// clip cuts s to maxText bytes, saying how much was cut.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	head := prefix(s, maxText)
	return fmt.Sprintf("%s… (%d more bytes)", head, len(s)-len(head))
}

// quoteClipped quotes a value for a message, cut to 64 bytes.
func quoteClipped(v string) string {
	const most = 64
	if len(v) <= most {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(prefix(v, most)), len(v))
}

// prefix is s cut to at most n bytes, on a rune boundary.
func prefix(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// String renders the diagnostic on one line plus detail and hint lines;
// summary and detail are cut to maxText bytes each.
func (d Diagnostic) String() string {
	var b strings.Builder
	var where []string
	if d.File != "" && !strings.HasPrefix(d.Summary, d.File) {
		where = append(where, d.File)
	}
	if d.Resource != "" {
		where = append(where, clip(d.Resource))
	}
	if d.Field != "" {
		where = append(where, "field "+d.Field)
	}
	if len(where) > 0 {
		b.WriteString(strings.Join(where, ": "))
		b.WriteString(": ")
	}
	b.WriteString(clip(d.Summary))
	if d.Detail != "" {
		b.WriteString("\n")
		b.WriteString(clip(d.Detail))
	}
	if d.Hint != "" {
		b.WriteString("\n  hint: ")
		b.WriteString(d.Hint)
	}
	return b.String()
}

// Diagnostics is a list of problems; as an error it names all of them.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, "\n")
}

// diagnose turns an error into diagnostics: Diagnostics and *EvalError keep
// their shape; any other error becomes one diagnostic with the hint.
func diagnose(err error, hint string) Diagnostics {
	var ds Diagnostics
	if errors.As(err, &ds) {
		return ds
	}
	var ee *EvalError
	if errors.As(err, &ee) {
		return Diagnostics{{File: ee.File, Summary: ee.Message, Hint: ee.Hint}}
	}
	return Diagnostics{{Summary: err.Error(), Hint: hint}}
}

// sortDiagnostics orders diagnostics by resource, then summary, so reports
// do not depend on which goroutine finished first.
func sortDiagnostics(ds Diagnostics) {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Resource != ds[j].Resource {
			return ds[i].Resource < ds[j].Resource
		}
		return ds[i].Summary < ds[j].Summary
	})
}
