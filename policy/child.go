package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

// checkChild is the sandbox function that compiles and evaluates a commit's
// policies in a child process of the runner (Checker.Isolate).
const checkChild = "policy.check"

func init() { sandbox.RegisterParts(checkChild, serveCheck) }

// The policy child's request comes in two parts, so that it can compile
// while the parent still evaluates the commit: first the checkSetup (JSON),
// then the input document (JSON, encodeInput), which it reads straight into
// an OPA value (parseJSONValue).
//
// checkSetup is the first part. OnRule is not sent: the child reports rules
// as its progress.
type checkSetup struct {
	Options Options `json:"options"`
	Files   []File  `json:"files"`
}

// checkResponse is the child's answer: findings, or the error (a compile
// or evaluation error, with its position) as text.
type checkResponse struct {
	Result pipeline.PolicyResult `json:"result"`
	Error  string                `json:"error,omitempty"`
}

// serveCheck is the child: it compiles the policies of the first part and,
// when they compile, evaluates the second part on them. A policy that does
// not compile is answered at once, without waiting for the input.
func serveCheck(ctx context.Context, parts *sandbox.Parts, progress func(string)) ([]byte, error) {
	b, err := parts.Next()
	if err != nil {
		return nil, fmt.Errorf("%s: setup: %w", checkChild, err)
	}
	var setup checkSetup
	if err := json.Unmarshal(b, &setup); err != nil {
		return nil, fmt.Errorf("%s: setup: %w", checkChild, err)
	}
	setup.Options.OnRule = func(file string, line int) {
		if line > 0 {
			progress(fmt.Sprintf("%s:%d", file, line))
		} else {
			progress(file)
		}
	}
	answer := func(res pipeline.PolicyResult, err error) ([]byte, error) {
		if err != nil {
			return json.Marshal(checkResponse{Error: err.Error()})
		}
		return json.Marshal(checkResponse{Result: res})
	}
	set, err := Compile(ctx, setup.Files, setup.Options)
	if err != nil {
		return answer(pipeline.PolicyResult{}, err)
	}
	b, err = parts.Next()
	if err != nil {
		return nil, fmt.Errorf("%s: input: %w", checkChild, err)
	}
	in, err := parseJSONValue(b)
	if err != nil {
		return answer(pipeline.PolicyResult{}, fmt.Errorf("policy input: %w", err))
	}
	return answer(evalFindings(ctx, set, in))
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
	if err := c.sendSetup(child, files); err != nil {
		return pipeline.PolicyResult{}, err
	}
	return c.sendInput(child, in)
}

// startChild starts the policy child, which then waits for its request.
// Its wall-clock limit, Options.Timeout, bounds its whole work: compiling
// from the setup on, and evaluating; not the time it waits for the input.
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

// sendSetup hands the started child the options and the policy files: it
// compiles them as soon as it has them.
func (c Checker) sendSetup(child *sandbox.Child, files []File) error {
	opts := c.Options
	opts.OnRule = nil
	b, err := json.Marshal(checkSetup{Options: opts, Files: files})
	if err == nil {
		err = child.Send(b)
	}
	if err != nil {
		return fmt.Errorf("policy evaluation: %s: request: %w", checkChild, err)
	}
	return nil
}

// sendInput hands the child the input document and reads its answer.
func (c Checker) sendInput(child *sandbox.Child, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	b, err := encodeInput(in)
	if err != nil {
		return pipeline.PolicyResult{}, fmt.Errorf("policy evaluation: %s: request: %w", checkChild, err)
	}
	res, err := child.Run(b)
	if err != nil {
		var le *sandbox.LimitError
		if errors.As(err, &le) {
			return pipeline.PolicyResult{}, le
		}
		return pipeline.PolicyResult{}, fmt.Errorf("policy evaluation: %w", err)
	}
	var out checkResponse
	if err := json.Unmarshal(res.Output, &out); err != nil {
		return pipeline.PolicyResult{}, fmt.Errorf("policy evaluation: %s: the child's answer: %w", checkChild, err)
	}
	if out.Error != "" {
		return pipeline.PolicyResult{}, errors.New(out.Error)
	}
	return out.Result, nil
}

// Start starts the policy child ahead of the check when the checker
// isolates (pipeline.PolicyStarter), so that the child's process start and
// runtime initialization overlap the caller's evaluation and decoding; the
// returned Policy's Prepare hands it the policy files early, so that it
// compiles them meanwhile too. The returned Policy's first Check runs in
// that child, with the same limits (its Timeout counts the child's work from
// Prepare on, not its wait for the input). stop ends the child if no Check
// came (call it in every case). Without isolation, or when the child cannot
// be started, the returned Policy is c and its Check starts its own child.
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
	mu       sync.Mutex
	child    *sandbox.Child
	prepared []pipeline.PolicyFile // what Prepare sent; nil before
	sendErr  error                 // Prepare's failure, reported by Check
}

var _ pipeline.PolicyPreparer = (*startedChecker)(nil)

// Prepare implements pipeline.PolicyPreparer: the child compiles files
// while the caller builds the input. Only the first call counts.
func (s *startedChecker) Prepare(files []pipeline.PolicyFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.child == nil || s.prepared != nil || s.sendErr != nil {
		return
	}
	if s.sendErr = s.sendSetup(s.child, repoFiles(files)); s.sendErr == nil {
		s.prepared = files
		if s.prepared == nil {
			s.prepared = []pipeline.PolicyFile{}
		}
	}
}

// Check implements pipeline.Policy. Files other than the prepared ones
// (which a caller should not give) are checked in a new child.
func (s *startedChecker) Check(ctx context.Context, files []pipeline.PolicyFile, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	s.mu.Lock()
	child, prepared, sendErr := s.child, s.prepared, s.sendErr
	s.child = nil
	s.mu.Unlock()
	if child == nil {
		return s.Checker.Check(ctx, files, in)
	}
	defer child.Close()
	switch {
	case sendErr != nil:
		return pipeline.PolicyResult{}, sendErr
	case prepared == nil:
		if err := s.sendSetup(child, repoFiles(files)); err != nil {
			return pipeline.PolicyResult{}, err
		}
	case !sameFiles(prepared, files):
		child.Close()
		return s.Checker.Check(ctx, files, in)
	}
	return s.sendInput(child, in)
}

// sameFiles reports whether a and b are the same files in the same order.
func sameFiles(a, b []pipeline.PolicyFile) bool {
	return slices.EqualFunc(a, b, func(x, y pipeline.PolicyFile) bool {
		return x.Path == y.Path && bytes.Equal(x.Source, y.Source)
	})
}
