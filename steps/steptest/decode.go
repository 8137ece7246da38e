package steptest

import (
	"encoding/json"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Decode decodes spec (JSON) as a kind of b, as the pipeline's decode step
// does, or fails the test with the kind, the spec and the error. The empty
// spec is nil: a target with no desired (or no last) state.
func Decode(tb testing.TB, b steps.Backend, kind, spec string) steps.Spec {
	tb.Helper()
	if spec == "" {
		return nil
	}
	s, err := b.Decode(kind, json.RawMessage(spec))
	if err != nil {
		tb.Fatalf("decode %s %s: %v", kind, spec, err)
	}
	return s
}
