package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

// evalChild is the sandbox function that evaluates a commit's Jsonnet in a
// child process of the runner (Runner.Isolate).
const evalChild = "pipeline.evaluate"

func init() { sandbox.RegisterJSON(evalChild, serveEvaluate) }

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

// evalResponse is the child's answer: the evaluated JSON, or the
// evaluation's error.
type evalResponse struct {
	Output string     `json:"output,omitempty"`
	Error  *EvalError `json:"error,omitempty"`
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
	return evalResponse{Output: string(out)}, nil
}

// evaluateIn evaluates the commit in a child process whose time and memory
// the kernel limits (package sandbox). The child also watches the limits
// itself and stops with a precise message when it can; the kill at the
// time limit and the memory cap hold when it cannot. A limit hit is an
// *EvalError naming the limit, its value and its configuration key.
func (r *Runner) evaluateIn(ctx context.Context, snap *gitstore.Snapshot, vars Vars) ([]byte, error) {
	lim := r.Limits.withDefaults()
	req := evalRequest{GitDir: r.Repo.Path(), Quarantine: r.Repo.Quarantine(), Commit: snap.Commit.Hash.String(),
		Entry: r.Entry, Vars: vars, Limits: lim}
	out, err := sandbox.RunJSON[evalRequest, evalResponse](ctx, evalChild, req, sandbox.Limits{
		Task:    "evaluating " + r.Entry,
		Timeout: lim.Timeout, TimeoutKey: "limits.evalTimeout",
		Memory: lim.MaxMemory, MemoryKey: "limits.maxMemoryMiB",
		// JSON escaping makes a byte at most 6 ("\u003c"), plus the envelope.
		MaxResult: 6*lim.MaxOutput + 4096, MaxResultKey: "limits.maxOutputMiB",
	})
	var le *sandbox.LimitError
	if errors.As(err, &le) {
		return nil, &EvalError{File: r.Entry, Message: le.Error(),
			Hint: "something in the commit runs away (recursion, a huge comprehension or string); the limits are in the runner config"}
	}
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", r.Entry, err)
	}
	if out.Error != nil {
		return nil, out.Error
	}
	return []byte(out.Output), nil
}
