package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

// evalChild is the sandbox function that evaluates a commit's Jsonnet in a
// child process of the runner (Runner.Isolate).
const evalChild = "pipeline.evaluate"

func init() { sandbox.Register(evalChild, serveEvaluateRaw) }

// evalRequest is what the parent sends the evaluation child: where the
// commit is and how to evaluate it. The child opens the repository itself
// (read-only), so no file content crosses the pipe.
type evalRequest struct {
	GitDir     string `json:"gitDir"`
	Quarantine string `json:"quarantine,omitempty"`
	Commit     string `json:"commit"`
	Entry      string `json:"entry"`
	Vars       Vars   `json:"vars"`
	Limits     Limits `json:"limits"`
}

// The child's answer is the byte evalOutput followed by the evaluated JSON
// as it is, or evalFailed followed by the *EvalError as JSON. (Not a JSON
// envelope around the output: escaping 0.5 MB of output into a JSON string
// and reading it back cost the check ~40 ms of CPU at 1000 guests.)
const (
	evalOutput = 'o'
	evalFailed = 'e'
)

// evalResponse is the child's answer, decoded.
type evalResponse struct {
	Output []byte
	Error  *EvalError
}

// serveEvaluateRaw is serveEvaluate behind the child's byte protocol.
func serveEvaluateRaw(ctx context.Context, b []byte, progress func(string)) ([]byte, error) {
	var req evalRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("%s: request: %w", evalChild, err)
	}
	resp, err := serveEvaluate(ctx, req, progress)
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		e, err := json.Marshal(resp.Error)
		return append([]byte{evalFailed}, e...), err
	}
	return append([]byte{evalOutput}, resp.Output...), nil
}

// readEvalResponse decodes what serveEvaluateRaw wrote.
func readEvalResponse(b []byte) (evalResponse, error) {
	if len(b) == 0 {
		return evalResponse{}, errors.New("the evaluation child answered nothing")
	}
	switch b[0] {
	case evalOutput:
		return evalResponse{Output: b[1:]}, nil
	case evalFailed:
		var e EvalError
		if err := json.Unmarshal(b[1:], &e); err != nil {
			return evalResponse{}, fmt.Errorf("the evaluation child's error: %w", err)
		}
		return evalResponse{Error: &e}, nil
	}
	return evalResponse{}, fmt.Errorf("the evaluation child answered %q…", b[:min(len(b), 16)])
}

func serveEvaluate(ctx context.Context, r evalRequest, progress func(string)) (evalResponse, error) {
	repo, err := gitstore.OpenQuarantined(r.GitDir, r.Quarantine)
	if err != nil {
		return evalResponse{}, err
	}
	snap, err := repo.Snapshot(plumbing.NewHash(r.Commit))
	if err != nil {
		return evalResponse{}, err
	}
	progress(r.Entry)
	out, err := evaluate(ctx, snap, r.Entry, r.Vars, r.Limits, progress)
	var ee *EvalError
	switch {
	case errors.As(err, &ee):
		return evalResponse{Error: ee}, nil
	case err != nil:
		return evalResponse{}, err
	}
	return evalResponse{Output: out}, nil
}

// evalLimits are the evaluation child's limits.
func (r *Runner) evalLimits() sandbox.Limits {
	lim := r.Limits.withDefaults()
	return sandbox.Limits{
		Task:    "evaluating " + r.Entry,
		Timeout: lim.Timeout, TimeoutKey: "limits.evalTimeout",
		Memory: lim.MaxMemory, MemoryKey: "limits.maxMemoryMiB",
		// The output as it is, or an error message of at most a few kB.
		MaxResult: lim.MaxOutput + 1<<20, MaxResultKey: "limits.maxOutputMiB",
	}
}

// startEvaluation starts an evaluation child ahead of its request when the
// runner isolates (sandbox.Start): its process start then overlaps the
// caller's other work. It returns nil when the runner does not isolate or
// the child cannot start (the evaluation then starts its own, and reports
// why if that fails too). The caller closes a returned child.
func (r *Runner) startEvaluation(ctx context.Context) *sandbox.Child {
	if !r.Isolate {
		return nil
	}
	c, err := sandbox.Start(ctx, evalChild, r.evalLimits())
	if err != nil {
		return nil
	}
	return c
}

// evaluateIn evaluates the commit in a child process whose time and memory
// the kernel limits (package sandbox): child when not nil (started ahead,
// startEvaluation), else one started now. The child also watches the
// limits itself and stops with a precise message when it can; the kill at
// the time limit and the memory cap hold when it cannot. A limit hit is an
// *EvalError naming the limit, its value and its configuration key.
func (r *Runner) evaluateIn(ctx context.Context, child *sandbox.Child, snap *gitstore.Snapshot, vars Vars) ([]byte, error) {
	lim := r.Limits.withDefaults()
	req := evalRequest{GitDir: r.Repo.Path(), Quarantine: r.Repo.Quarantine(), Commit: snap.Commit.Hash.String(),
		Entry: r.Entry, Vars: vars, Limits: lim}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", r.Entry, err)
	}
	if child == nil {
		if child, err = sandbox.Start(ctx, evalChild, r.evalLimits()); err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", r.Entry, err)
		}
		defer child.Close()
	}
	res, err := child.Run(b)
	var le *sandbox.LimitError
	if errors.As(err, &le) {
		return nil, &EvalError{File: r.Entry, Message: le.Error(),
			Hint: "something in the commit runs away (recursion, a huge comprehension or string); the limits are in the runner config"}
	}
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", r.Entry, err)
	}
	out, err := readEvalResponse(res.Output)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", r.Entry, err)
	}
	if out.Error != nil {
		return nil, out.Error
	}
	return out.Output, nil
}
