package pipeline_test

import (
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// infra is the test's infra repo (see internal/gitrepotest).
type infra struct {
	*gitrepotest.Repo
	t testing.TB
}

func newInfra(t testing.TB) *infra { return &infra{Repo: gitrepotest.New(t), t: t} }

// runner is a Runner on the infra repo with backend b (steptest's, or one
// that wraps it) and no waiting between retries.
func (in *infra) runner(b steps.Backend) *pipeline.Runner {
	in.t.Helper()
	repo, err := gitstore.Open(in.Bare)
	if err != nil {
		in.t.Fatal(err)
	}
	reg, err := steps.NewRegistry(b)
	if err != nil {
		in.t.Fatal(err)
	}
	return &pipeline.Runner{Repo: repo, Registry: reg, Exec: steps.ExecOptions{Backoff: 1, MaxBackoff: 1}}
}

// things renders a main.jsonnet with test.thing resources: name → value,
// plus optional extra Jsonnet resource expressions.
func things(kv map[string]string, extra ...string) string {
	var b strings.Builder
	b.WriteString("local r = import 'runner.libsonnet';\nr.output([\n")
	for k, v := range kv {
		b.WriteString("  r.resource('test.thing', '" + k + "', {value: '" + v + "'}),\n")
	}
	for _, e := range extra {
		b.WriteString("  " + e + ",\n")
	}
	b.WriteString("])\n")
	return b.String()
}
