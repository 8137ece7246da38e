package pipelinetest

import (
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/google/go-jsonnet"

	"github.com/gitops-runner/gitops-runner/lib"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

// Resource is a resource as lib/runner.libsonnet and the backends' helpers
// build it.
type Resource = pipeline.RawResource

// EvalLib evaluates the Jsonnet snippet with every file of lib/ importable
// by its name (e.g. 'route53.libsonnet') and decodes its output into out.
func EvalLib(tb testing.TB, snippet string, out any) {
	tb.Helper()
	files := map[string]jsonnet.Contents{}
	names, err := fs.Glob(lib.FS, "*.libsonnet")
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range names {
		b, err := lib.FS.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		files[n] = jsonnet.MakeContents(string(b))
	}
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.MemoryImporter{Data: files})
	js, err := vm.EvaluateAnonymousSnippet("main.jsonnet", snippet)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal([]byte(js), out); err != nil {
		tb.Fatal(err)
	}
}
