package policy

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
	child, err := c.startChild(ctx)
	if err != nil {
		return pipeline.PolicyResult{}, fmt.Errorf("policy evaluation: %w", err)
	}
	defer child.Close()
	return c.checkWith(child, files, in)
}

// startChild starts the policy child, which then waits for its request.
func (c Checker) startChild(ctx context.Context) (*sandbox.Child, error) {
	timeout := c.Options.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return sandbox.Start(ctx, checkChild, sandbox.Limits{
		Task: "policy evaluation", Timeout: timeout, TimeoutKey: "policy.timeout",
		Memory: c.Memory, MemoryKey: "limits.maxMemoryMiB",
	})
}

// checkWith hands the started child its request and reads its answer.
func (c Checker) checkWith(child *sandbox.Child, files []File, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	opts := c.Options
	opts.OnRule = nil
	out, err := sandbox.RunJSONIn[checkRequest, checkResponse](child, checkChild, checkRequest{Options: opts, Files: files, Input: in})
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

// Start starts the policy child ahead of the check when the checker
// isolates (pipeline.PolicyStarter), so that the child's process start and
// runtime initialization overlap the caller's evaluation and decoding. The
// returned Policy's first Check runs in that child, with the same limits;
// its Timeout counts from the Check. stop ends the child if no Check came
// (call it in every case). Without isolation, or when the child cannot be
// started, the returned Policy is c and its Check starts its own child.
func (c Checker) Start(ctx context.Context) (p pipeline.Policy, stop func()) {
	if !c.Isolate {
		return c, func() {}
	}
	child, err := c.startChild(ctx)
	if err != nil {
		return c, func() {}
	}
	return &startedChecker{Checker: c, child: child}, child.Close
}

var _ pipeline.PolicyStarter = Checker{}

// startedChecker is a Checker with a policy child already started: its
// first Check uses it, later ones start their own.
type startedChecker struct {
	Checker
	mu    sync.Mutex
	child *sandbox.Child
}

// Check implements pipeline.Policy.
func (s *startedChecker) Check(ctx context.Context, files []pipeline.PolicyFile, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	s.mu.Lock()
	child := s.child
	s.child = nil
	s.mu.Unlock()
	if child == nil {
		return s.Checker.Check(ctx, files, in)
	}
	defer child.Close()
	return s.checkWith(child, repoFiles(files), in)
}
