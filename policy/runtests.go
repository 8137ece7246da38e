package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
	Name     string // full name, e.g. "data.main.test_denies_big_guest"
	File     string // e.g. "policy/guests_test.rego"
	Line     int    // line of the test rule
	Status   TestStatus
	Message  string // for TestError: the error
	Output   string // what the test printed with print()
	Duration time.Duration
}

// String renders "file:line: name: STATUS[: message]".
func (r TestResult) String() string {
	s := fmt.Sprintf("%s:%d: %s: %s", r.File, r.Line, r.Name, strings.ToUpper(string(r.Status)))
	if r.Message != "" {
		s += ": " + r.Message
	}
	return s
}

// Test runs the test rules of the repo's *_test.rego files with OPA's
// tester, like `opa test`, against the repo's policies and the enabled
// built-ins, under the same sandbox; data.runner.config is opts.Config and
// opts.Timeout bounds each test. Results are sorted by file and line. A
// policy that does not compile gives a *CompileError.
func Test(ctx context.Context, repo []File, opts Options) ([]TestResult, error) {
	l, err := load(repo, opts, true)
	if err != nil {
		return nil, err
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
		RunTests(ctx, nil)
	if err != nil {
		var errs ast.Errors
		if errors.As(err, &errs) {
			return nil, newCompileError(errs)
		}
		return nil, fmt.Errorf("policy test: %w", err)
	}
	var out []TestResult
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
				tr.Message = fmt.Sprintf("stopped at the time limit of %s: %s", l.timeout, tr.Message)
			}
		case r.Fail:
			tr.Status = TestFail
		default:
			tr.Status = TestPass
		}
		out = append(out, tr)
	}
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("policy test: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Name < b.Name
	})
	return out, nil
}
