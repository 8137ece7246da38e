package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

// checkChild is the sandbox function that compiles and evaluates a commit's
// policies in a child process of the runner (Checker.Isolate).
const checkChild = "policy.check"

func init() { sandbox.RegisterJSON(checkChild, serveCheck) }

// checkRequest is what the parent sends the policy child. OnRule is not
// sent: the child reports rules as its progress.
type checkRequest struct {
	Options Options               `json:"options"`
	Files   []File                `json:"files"`
	Input   *pipeline.PolicyInput `json:"input"`
}

// checkResponse is the child's answer: findings, or the error (a compile
// or evaluation error, with its position) as text.
type checkResponse struct {
	Result pipeline.PolicyResult `json:"result"`
	Error  string                `json:"error,omitempty"`
}

func serveCheck(ctx context.Context, r checkRequest, progress func(string)) (checkResponse, error) {
	r.Options.OnRule = func(file string, line int) {
		if line > 0 {
			progress(fmt.Sprintf("%s:%d", file, line))
		} else {
			progress(file)
		}
	}
	res, err := check(ctx, r.Files, r.Input, r.Options)
	if err != nil {
		return checkResponse{Error: err.Error()}, nil
	}
	return checkResponse{Result: res}, nil
}

// checkIn runs check in a child process: the kernel enforces Options.Timeout
// (the child is killed) and Memory, whatever a policy does — OPA checks its
// own deadline only between evaluation steps, not inside a built-in such as
// strings.render_template.
func (c Checker) checkIn(ctx context.Context, files []File, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	opts := c.Options
	opts.OnRule = nil
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	out, err := sandbox.RunJSON[checkRequest, checkResponse](ctx, checkChild, checkRequest{Options: opts, Files: files, Input: in}, sandbox.Limits{
		Task: "policy evaluation", Timeout: timeout, TimeoutKey: "policy.timeout",
		Memory: c.Memory, MemoryKey: "limits.maxMemoryMiB",
	})
	if err != nil {
		var le *sandbox.LimitError
		if errors.As(err, &le) {
			return pipeline.PolicyResult{}, le
		}
		return pipeline.PolicyResult{}, fmt.Errorf("policy evaluation: %w", err)
	}
	if out.Error != "" {
		return pipeline.PolicyResult{}, errors.New(out.Error)
	}
	return out.Result, nil
}
