package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Position is one diagnostic of a policy compile error, located in a Rego file.
type Position struct {
	File    string `json:"file"`    // path as given in File.Path, e.g. "policy/guests.rego"
	Line    int    `json:"line"`    // 1-based; 0 when OPA gave no location
	Col     int    `json:"col"`     // 1-based; 0 when OPA gave no location
	Message string `json:"message"` // what is wrong, prefixed with OPA's error code where it has one
}

// String renders the position as "file:line:col: message".
func (p Position) String() string {
	switch {
	case p.File == "":
		return p.Message
	case p.Line == 0:
		return p.File + ": " + p.Message
	default:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
	}
}

// CompileError reports Rego files that do not parse or compile, or that use
// a refused built-in function. Nothing was evaluated.
type CompileError struct {
	Positions []Position
}

// Error renders one diagnostic per line.
func (e *CompileError) Error() string {
	lines := make([]string, len(e.Positions))
	for i, p := range e.Positions {
		lines[i] = p.String()
	}
	return "policy does not compile:\n" + strings.Join(lines, "\n")
}

// newCompileError converts OPA's errors into a CompileError, dropping
// duplicates (a finding rule and its generated per-rule copy report the same
// error at the same place) and sorting by place.
func newCompileError(errs ast.Errors) *CompileError {
	seen := map[Position]bool{}
	ce := &CompileError{}
	for _, e := range errs {
		p := Position{Message: e.Message}
		if e.Code != "" {
			p.Message = e.Code + ": " + e.Message
		}
		if e.Location != nil {
			p.File, p.Line, p.Col = e.Location.File, e.Location.Row, e.Location.Col
		}
		if !seen[p] {
			seen[p] = true
			ce.Positions = append(ce.Positions, p)
		}
	}
	sortPositions(ce.Positions)
	return ce
}

func sortPositions(ps []Position) {
	slices.SortStableFunc(ps, func(a, b Position) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// EvalError reports a finding rule that could not be evaluated: an OPA
// runtime error, a message that is not a string, or the time limit. The run
// must be treated as denied.
type EvalError struct {
	File string // policy file of the rule, e.g. "policy/guests.rego"
	Line int    // line of the rule's head
	Rule string // e.g. "data.main.deny"
	Err  error
}

// Error renders "file:line: rule: cause".
func (e *EvalError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Rule, e.Err)
}

// Unwrap returns the cause (context.DeadlineExceeded for the time limit).
func (e *EvalError) Unwrap() error { return e.Err }
