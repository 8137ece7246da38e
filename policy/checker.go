package policy

import (
	"context"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

// Checker is the pipeline's policy step: it compiles the commit's policy
// files with the built-ins its Options leave on, and evaluates the run's
// input document. It implements pipeline.Policy.
type Checker struct {
	Options Options
	// Isolate compiles and evaluates the policies in a child process of
	// the runner (package sandbox): killed at Options.Timeout, its memory
	// capped at Memory bytes (0: the sandbox's default, 1 GiB).
	Isolate bool
	Memory  uint64
}

// Check implements pipeline.Policy.
func (c Checker) Check(ctx context.Context, files []pipeline.PolicyFile, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	if c.Isolate {
		return c.checkIn(ctx, repoFiles(files), in)
	}
	return check(ctx, repoFiles(files), in, c.Options)
}

// CheckSizes refuses policy files beyond the limits of the options before
// they are read (pipeline.SizeChecker).
func (c Checker) CheckSizes(files []pipeline.PolicyFileSize) error {
	fs := make([]FileSize, len(files))
	for i, f := range files {
		fs[i] = FileSize{Path: f.Path, Size: f.Size}
	}
	return c.Options.CheckSizes(fs)
}

// check compiles the files and evaluates the input.
func check(ctx context.Context, files []File, in *pipeline.PolicyInput, opts Options) (pipeline.PolicyResult, error) {
	set, err := Compile(ctx, files, opts)
	if err != nil {
		return pipeline.PolicyResult{}, err
	}
	return evalFindings(ctx, set, in)
}

// evalFindings evaluates a compiled set on the input (Eval's input) and
// gives its findings as the pipeline takes them.
func evalFindings(ctx context.Context, set *Set, in any) (pipeline.PolicyResult, error) {
	res, err := set.Eval(ctx, in)
	if err != nil {
		return pipeline.PolicyResult{}, err
	}
	return pipeline.PolicyResult{Deny: findings(res.Deny), Warn: findings(res.Warn)}, nil
}

// Test runs the commit's policy tests (`runner policy test`) with the
// checker's options.
func (c Checker) Test(ctx context.Context, files []pipeline.PolicyFile) ([]TestResult, error) {
	return Test(ctx, repoFiles(files), c.Options)
}

func repoFiles(files []pipeline.PolicyFile) []File {
	repo := make([]File, len(files))
	for i, f := range files {
		repo[i] = File{Path: f.Path, Source: f.Source}
	}
	return repo
}

func findings(fs []Finding) []pipeline.Finding {
	var out []pipeline.Finding
	for _, f := range fs {
		out = append(out, pipeline.Finding{Message: f.Message, File: f.File, Line: f.Line, Rule: f.Rule})
	}
	return out
}
