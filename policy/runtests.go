package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// TestStatus is the outcome of one Rego test.
type TestStatus string

// The outcomes of a Rego test, as `opa test` reports them.
const (
	TestPass  TestStatus = "pass"
	TestFail  TestStatus = "fail"  // the test rule was false or undefined
	TestError TestStatus = "error" // evaluation failed (runtime error, time limit)
	TestSkip  TestStatus = "skip"  // a todo_test_ rule
)

// TestResult is the outcome of one test rule (test_*) of a *_test.rego file.
type TestResult struct {
	Name     string        `json:"name"` // full name, e.g. "data.main.test_denies_big_guest"
	File     string        `json:"file"` // e.g. "policy/guests_test.rego"
	Line     int           `json:"line"` // line of the test rule
	Status   TestStatus    `json:"status"`
	Message  string        `json:"message,omitempty"` // for TestError: the error
	Output   string        `json:"output,omitempty"`  // what the test printed with print()
	Duration time.Duration `json:"duration"`
	// FailedAt is, for TestFail, the expression that failed (Message holds
	// its text), as `opa test` shows it; nil when OPA's trace does not tell.
	FailedAt *Position `json:"failedAt,omitempty"`
}

// String renders "file:line: name: STATUS[: message]".
func (r TestResult) String() string {
	s := fmt.Sprintf("%s:%d: %s: %s", r.File, r.Line, r.Name, strings.ToUpper(string(r.Status)))
	if r.Message != "" {
		s += ": " + r.Message
	}
	if r.FailedAt != nil {
		s += fmt.Sprintf(" (failed at %s:%d: %s)", r.FailedAt.File, r.FailedAt.Line, r.FailedAt.Message)
	}
	return s
}

// Test runs the test rules of the repo's *_test.rego files with OPA's
// tester, like `opa test`, against the repo's policies and the enabled
// built-ins, under the same sandbox; data.runner.config is opts.Config and
// opts.Timeout bounds each test. Results are sorted by file and line. A
// policy that does not compile gives a *CompileError.
func Test(ctx context.Context, repo []File, opts Options) ([]TestResult, error) {
	ch, timeout, err := runTests(ctx, repo, opts, "")
	if err != nil {
		return nil, err
	}
	var out []TestResult
	var failed []string
	for r := range ch {
		tr := TestResult{
			Name:     r.Package + "." + r.Name,
			Output:   string(r.Output),
			Duration: r.Duration,
		}
		if r.Location != nil {
			tr.File, tr.Line = r.Location.File, r.Location.Row
		}
		switch {
		case r.Skip:
			tr.Status = TestSkip
		case r.Error != nil:
			tr.Status = TestError
			tr.Message = r.Error.Error()
			if errors.Is(r.Error, context.DeadlineExceeded) || topdown.IsCancel(r.Error) {
				tr.Message = fmt.Sprintf("stopped at the time limit of %s: %s", timeout, tr.Message)
			}
		case r.Fail:
			tr.Status = TestFail
			failed = append(failed, regexp.QuoteMeta(tr.Name))
		default:
			tr.Status = TestPass
		}
		out = append(out, tr)
	}
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("policy test: %w", err)
	}
	if len(failed) > 0 {
		at, err := failedAt(ctx, repo, opts, "^("+strings.Join(failed, "|")+")$")
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i].FailedAt = at[out[i].Name]
		}
	}
	slices.SortFunc(out, func(a, b TestResult) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

// runTests starts OPA's tester on freshly loaded modules; filter, when not
// empty, selects tests by full name and turns on tracing.
func runTests(ctx context.Context, repo []File, opts Options, filter string) (<-chan *tester.Result, time.Duration, error) {
	l, err := load(repo, opts, true)
	if err != nil {
		return nil, 0, err
	}
	compiler := ast.NewCompiler().
		WithCapabilities(l.caps).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(true)
	ch, err := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(l.store).
		SetModules(l.modules).
		SetDefaultRegoVersion(ast.RegoV1).
		CapturePrintOutput(true).
		SetTimeout(l.timeout).
		Filter(filter).
		EnableTracing(filter != "").
		RunTests(ctx, nil)
	if err != nil {
		var errs ast.Errors
		if errors.As(err, &errs) {
			return nil, 0, newCompileError(errs)
		}
		return nil, 0, fmt.Errorf("policy test: %w", err)
	}
	return ch, l.timeout, nil
}

// failedAt re-runs the failed tests with tracing (only those: a trace of a
// long test is large) and finds, like `opa test`, the last expression that
// failed, by test name.
func failedAt(ctx context.Context, repo []File, opts Options, filter string) (map[string]*Position, error) {
	ch, _, err := runTests(ctx, repo, opts, filter)
	if err != nil {
		return nil, err
	}
	at := map[string]*Position{}
	for r := range ch {
		for _, e := range slices.Backward(r.Trace) {
			if e.Op != topdown.FailOp || e.Location == nil || e.QueryID == 0 {
				continue
			}
			expr, ok := e.Node.(*ast.Expr)
			if !ok {
				continue
			}
			if _, every := expr.Terms.(*ast.Every); every {
				continue // the failing expression inside the every body comes first
			}
			at[r.Package+"."+r.Name] = &Position{File: e.Location.File, Line: e.Location.Row, Col: e.Location.Col, Message: string(e.Location.Text)}
			break
		}
	}
	return at, nil
}
