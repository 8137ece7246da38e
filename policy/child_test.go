package policy_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/policy"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Serve() // Checker.Isolate runs this test binary as its child
	os.Exit(m.Run())
}

// TestCheckerInChild: an isolated Checker finds what an in-process one
// finds, and a policy stuck inside a built-in is killed at Options.Timeout
// with the rule named.
func TestCheckerInChild(t *testing.T) {
	files, in := guardPolicy()
	opts := policy.Options{Disabled: policy.Builtins(), Timeout: 2 * time.Second}
	want, err := policy.Checker{Options: opts}.Check(context.Background(), files, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := policy.Checker{Options: opts, Isolate: true, Memory: 256 << 20}.Check(context.Background(), files, in)
	if err != nil || len(got.Deny) != 1 || len(want.Deny) != 1 || got.Deny[0] != want.Deny[0] {
		t.Fatalf("in a child: %+v, %v; in process: %+v", got, err, want)
	}

	slow := append(files, slowPolicy)
	start := time.Now()
	_, err = policy.Checker{Options: opts, Isolate: true, Memory: 256 << 20}.Check(context.Background(), slow, in)
	var le *sandbox.LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "policy evaluation killed after 2s (policy.timeout); the last step started was policy/slow.rego:3") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second+2*time.Second { // the kill is at 2 s; slack for a loaded machine
		t.Errorf("returned after %s, more than the limit + 2 s", d)
	}
}

// TestStartedChecker: a Checker started ahead (Start) checks in the child
// it started, with the same findings and the same time limit, counted from
// the Check; its later Checks start their own child.
func TestStartedChecker(t *testing.T) {
	files, in := guardPolicy()
	opts := policy.Options{Disabled: policy.Builtins(), Timeout: time.Second}
	c := policy.Checker{Options: opts, Isolate: true, Memory: 256 << 20}
	p, stop := c.Start(context.Background())
	defer stop()
	if _, ok := p.(policy.Checker); ok {
		t.Fatal("Start of an isolating Checker returned the Checker itself, want one with a started child")
	}
	if _, ok := p.(pipeline.SizeChecker); !ok {
		t.Error("the started Checker lost CheckSizes")
	}
	time.Sleep(1500 * time.Millisecond) // past the time limit, before the Check
	for i := range 2 {
		got, err := p.Check(context.Background(), files, in)
		if err != nil || len(got.Deny) != 1 || got.Deny[0].Message != "no" {
			t.Fatalf("check %d: %+v, %v; want one denial \"no\"", i+1, got, err)
		}
	}

	p, stop = c.Start(context.Background())
	defer stop()
	slow := append(files, slowPolicy)
	_, err := p.Check(context.Background(), slow, in)
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Limit != sandbox.LimitTime {
		t.Errorf("a runaway policy in the started child: %v, want the time limit", err)
	}

	// Without isolation there is nothing to start.
	inProcess := policy.Checker{Options: opts}
	p, stop = inProcess.Start(context.Background())
	defer stop()
	if _, ok := p.(policy.Checker); !ok {
		t.Errorf("Start without isolation returned %T, want the Checker", p)
	}
}

// guardPolicy is a policy that denies pushes by mallory, and an input of
// such a push.
func guardPolicy() ([]pipeline.PolicyFile, *pipeline.PolicyInput) {
	files := []pipeline.PolicyFile{{Path: "policy/guard.rego", Source: []byte(`package guard

deny contains "no" if input.push.user == "mallory"
`)}}
	in := &pipeline.PolicyInput{Version: pipeline.PolicyInputVersion, Push: pipeline.Push{User: "mallory"},
		Resources: []pipeline.PolicyResource{}, Plan: []pipeline.PolicyChange{}, Live: map[string]any{}}
	return files, in
}

// slowPolicy is stuck inside a built-in (strings.render_template) for
// longer than any test's time limit.
var slowPolicy = pipeline.PolicyFile{Path: "policy/slow.rego", Source: []byte(`package slow

deny contains msg if {
	s := strings.render_template("{{range .a}}{{range $.a}}{{range $.a}}{{range $.a}}{{end}}{{end}}{{end}}{{end}}", {"a": numbers.range(1, 190)})
	msg := sprintf("rendered %d", [count(s)])
}
`)}

// TestPreparedChecker: a started Checker handed its files early (Prepare)
// compiles them before the input comes and answers as an unprepared one:
// the same findings, the same compile error, the time limit on its work but
// not on its wait for the input; other files at Check get a child of their own.
func TestPreparedChecker(t *testing.T) {
	files, in := guardPolicy()
	opts := policy.Options{Disabled: policy.Builtins(), Timeout: time.Second}
	c := policy.Checker{Options: opts, Isolate: true, Memory: 256 << 20}
	start := func() (pipeline.Policy, pipeline.PolicyPreparer) {
		t.Helper()
		p, stop := c.Start(context.Background())
		t.Cleanup(stop)
		pp, ok := p.(pipeline.PolicyPreparer)
		if !ok {
			t.Fatalf("the started Checker %T is no PolicyPreparer", p)
		}
		return p, pp
	}

	p, pp := start()
	pp.Prepare(files)
	time.Sleep(1500 * time.Millisecond) // waiting for the input, past the time limit
	got, err := p.Check(context.Background(), files, in)
	if err != nil || len(got.Deny) != 1 || got.Deny[0].Message != "no" {
		t.Fatalf("prepared: %+v, %v; want one denial \"no\"", got, err)
	}

	broken := []pipeline.PolicyFile{{Path: "policy/broken.rego", Source: []byte("package broken\n\ndeny contains msg if {\n")}}
	_, want := c.Check(context.Background(), broken, in)
	p, pp = start()
	pp.Prepare(broken)
	if _, err := p.Check(context.Background(), broken, in); err == nil || want == nil || err.Error() != want.Error() {
		t.Errorf("a policy that does not compile, prepared: %v\nunprepared: %v", err, want)
	}

	p, pp = start()
	pp.Prepare(append(files, slowPolicy))
	time.Sleep(1500 * time.Millisecond)
	_, err = p.Check(context.Background(), append(files, slowPolicy), in)
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Limit != sandbox.LimitTime {
		t.Errorf("a runaway policy, prepared: %v, want the time limit", err)
	}

	p, pp = start()
	pp.Prepare(broken)
	got, err = p.Check(context.Background(), files, in)
	if err != nil || len(got.Deny) != 1 {
		t.Errorf("checked with other files than prepared: %+v, %v; want those files' denial", got, err)
	}
}

// A rule stuck while the other rules finish on other goroutines is the
// step a killed child names, not the last rule started.
func TestStuckRuleNamedAmongOthers(t *testing.T) {
	files, in := guardPolicy() // policy/guard.rego, evaluated after policy/a-slow.rego
	stuck := pipeline.PolicyFile{Path: "policy/a-slow.rego", Source: slowPolicy.Source}
	c := policy.Checker{Options: policy.Options{Timeout: 2 * time.Second}, Isolate: true, Memory: 256 << 20}
	_, err := c.Check(context.Background(), append(files, stuck), in)
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.LastStep != "policy/a-slow.rego:3" {
		t.Errorf("err = %v, want the time limit with the last step policy/a-slow.rego:3", err)
	}
}
