package pipeline_test

import (
	"context"
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
