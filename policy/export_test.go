package policy

import (
	"context"
	"encoding/json"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

// ChildPath is the policy child's whole work on one check, in this
// process: the parent's encoding of the request, the child's decoding,
// compile, input conversion and evaluation, and the answer's encoding.
func ChildPath(ctx context.Context, files []File, opts Options, in *pipeline.PolicyInput) ([]byte, error) {
	setup, err := json.Marshal(checkSetup{Options: opts, Files: files})
	if err != nil {
		return nil, err
	}
	input, err := encodeInput(in)
	if err != nil {
		return nil, err
	}
	return serveCheck(ctx, sandbox.NewParts(setup, input), func(string) {})
}

// ChildInputPath is the part of ChildPath after the compile, which the
// push-time check waits for: the input's encoding, the child's reading of
// it, the evaluation and the answer's encoding.
func ChildInputPath(ctx context.Context, set *Set, in *pipeline.PolicyInput) ([]byte, error) {
	b, err := encodeInput(in)
	if err != nil {
		return nil, err
	}
	v, err := parseJSONValue(b)
	if err != nil {
		return nil, err
	}
	res, err := evalFindings(ctx, set, v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(checkResponse{Result: res})
}
