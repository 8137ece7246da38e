package pipeline_test

import (
	"context"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

type observed struct {
	reps    []*pipeline.Report
	commits []string
}

func (o *observed) Recorded(rep *pipeline.Report, statusCommit string) {
	o.reps = append(o.reps, rep)
	o.commits = append(o.commits, statusCommit)
}

// The observer hears of every run recorded on the status branch, once,
// with the status commit it can point at; not of runs nothing records (a
// plan, a drift check in sync).
func TestObserverHearsRecordedRuns(t *testing.T) {
	in := newInfra(t)
	in.Push("one", map[string]string{"main.jsonnet": things(map[string]string{"a": "v1"})})
	r := in.runner(steptest.New())
	o := &observed{}
	r.Observer = o
	ctx := context.Background()
	for _, k := range []pipeline.RunKind{pipeline.KindDeploy, pipeline.KindPlan, pipeline.KindDrift} {
		if _, err := r.Run(ctx, pipeline.Request{Kind: k}); err != nil {
			t.Fatal(err)
		}
	}
	if len(o.reps) != 1 || o.reps[0].Kind != pipeline.KindDeploy {
		t.Fatalf("observer heard %d runs, want the deploy only", len(o.reps))
	}
	tip, err := r.Repo.Ref(gitstore.BranchRef("status"))
	if err != nil {
		t.Fatal(err)
	}
	if o.commits[0] != tip.String() {
		t.Errorf("observer got status commit %s, the branch is at %s", o.commits[0], tip)
	}
}
