package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// capturePolicy records the push part of every policy input it sees.
type capturePolicy struct{ pushes []pipeline.Push }

func (c *capturePolicy) Check(_ context.Context, _ []pipeline.PolicyFile, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	c.pushes = append(c.pushes, in.Push)
	return pipeline.PolicyResult{}, nil
}

// TestPolicySeesOnePushAtCheckAndRun: a policy must judge a commit the same
// at `git push` time and at deploy time. The push part of its input (commit,
// ref, the whole commit message, body included) is built once for both.
func TestPolicySeesOnePushAtCheckAndRun(t *testing.T) {
	in := newInfra(t)
	r := in.runner(steptest.New())
	pol := &capturePolicy{}
	r.Policy = pol
	msg := "grow a\n\nBecause the backup job needs it.\nApproved-By: bob"
	c := in.Push(msg, map[string]string{"main.jsonnet": things(map[string]string{"a": "1"})})
	push := pipeline.Push{User: "alice", Ref: "refs/heads/main", Old: "0000000000000000000000000000000000000000", New: c}

	if _, err := r.Check(context.Background(), c, push); err != nil {
		t.Fatal(err)
	}
	if rep, err := r.Run(context.Background(), pipeline.Request{Push: push}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("run: %v %v", err, rep.Errors)
	}
	if len(pol.pushes) != 2 {
		t.Fatalf("policy ran %d times, want 2 (check, run)", len(pol.pushes))
	}
	check, run := pol.pushes[0], pol.pushes[1]
	if check != run {
		t.Errorf("policies saw different pushes:\ncheck %+v\nrun   %+v", check, run)
	}
	if run.Message != msg+"\n" && run.Message != msg {
		t.Errorf("push.message at deploy = %q, want the whole commit message %q", run.Message, msg)
	}
}

// preparingPolicy is a PolicyStarter whose started policy records the
// files it is prepared with and checked with, in order.
type preparingPolicy struct{ calls []string }

func (p *preparingPolicy) Check(context.Context, []pipeline.PolicyFile, *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	p.calls = append(p.calls, "unstarted check")
	return pipeline.PolicyResult{}, nil
}

func (p *preparingPolicy) Start(context.Context) (pipeline.Policy, func()) {
	return startedPolicy{p}, func() {}
}

type startedPolicy struct{ p *preparingPolicy }

func (s startedPolicy) Prepare(files []pipeline.PolicyFile) {
	s.p.calls = append(s.p.calls, "prepare "+filesString(files))
}

func (s startedPolicy) Check(_ context.Context, files []pipeline.PolicyFile, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	s.p.calls = append(s.p.calls, fmt.Sprintf("check %s with %d resources", filesString(files), len(in.Resources)))
	return pipeline.PolicyResult{}, nil
}

func filesString(files []pipeline.PolicyFile) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "[%s %q]", f.Path, f.Source)
	}
	return b.String()
}

// TestCheckPreparesPolicy: the push-time check hands a started policy the
// pushed commit's policy files before the input (so that it can compile
// them during the evaluation), then checks with the same files.
func TestCheckPreparesPolicy(t *testing.T) {
	in := newInfra(t)
	r := in.runner(steptest.New())
	pol := &preparingPolicy{}
	r.Policy = pol
	c := in.Push("a", map[string]string{"main.jsonnet": things(map[string]string{"a": "1"}),
		"policy/p.rego": "package p\n", "policy/notes.txt": "not a policy"})
	if res, err := r.Check(context.Background(), c, pipeline.Push{User: "alice"}); err != nil || res.Rejected() {
		t.Fatalf("check: %v %+v", err, res)
	}
	files := `[policy/p.rego "package p\n"]`
	want := []string{"prepare " + files, "check " + files + " with 1 resources"}
	if !slices.Equal(pol.calls, want) {
		t.Errorf("calls:\n%q\nwant\n%q", pol.calls, want)
	}
}

// childCounter is a preparingPolicy that counts, when it is prepared, the
// child processes this test process has beyond a baseline.
type childCounter struct {
	preparingPolicy
	t                   *testing.T
	baseline, atPrepare int
}

func (c *childCounter) Start(context.Context) (pipeline.Policy, func()) {
	return countingPolicy{startedPolicy{&c.preparingPolicy}, c}, func() {}
}

type countingPolicy struct {
	startedPolicy
	c *childCounter
}

func (s countingPolicy) Prepare(files []pipeline.PolicyFile) {
	s.c.atPrepare = childProcesses(s.c.t) - s.c.baseline
	s.startedPolicy.Prepare(files)
}

// childProcesses counts the processes whose parent is this one (zombies
// included: they have not been reaped).
func childProcesses(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n, self := 0, strconv.Itoa(os.Getpid())
	for _, e := range ents {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // not a process, or gone
		}
		// "pid (comm) state ppid ...": comm may hold spaces and ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == self {
			n++
		}
	}
	return n
}

// TestCheckPreparesPolicyAfterEvaluationChild: at push time the policy
// child gets its files to compile only once the evaluation child has
// exited and been reaped, so that a check never holds two memory limits
// at once (a review measured 484 MiB at a 256 MiB limit when the policy
// child compiled during the evaluation).
func TestCheckPreparesPolicyAfterEvaluationChild(t *testing.T) {
	in := newInfra(t)
	r := in.runner(steptest.New())
	r.Isolate = true
	pol := &childCounter{t: t, atPrepare: -1}
	r.Policy = pol
	c := in.Push("a", map[string]string{"main.jsonnet": things(map[string]string{"a": "1"}), "policy/p.rego": "package p\n"})
	pol.baseline = childProcesses(t)
	if res, err := r.Check(context.Background(), c, pipeline.Push{User: "alice"}); err != nil || res.Rejected() {
		t.Fatalf("check: %v %+v", err, res)
	}
	if pol.atPrepare != 0 {
		t.Errorf("when the policy was prepared, %d more child processes than before the check (the evaluation child not reaped yet), want 0", pol.atPrepare)
	}
	if len(pol.calls) != 2 || !strings.HasPrefix(pol.calls[0], "prepare ") {
		t.Errorf("calls %q, want a prepare, then a check", pol.calls)
	}
}
