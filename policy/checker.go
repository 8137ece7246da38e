package policy

import (
	"context"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

// Checker is the pipeline's policy step: it compiles the commit's policy
// files with the built-ins its Options leave on, and evaluates the run's
// input document. It implements pipeline.Policy.
type Checker struct{ Options Options }

// Check implements pipeline.Policy.
func (c Checker) Check(ctx context.Context, files []pipeline.PolicyFile, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	set, err := Compile(ctx, repoFiles(files), c.Options)
	if err != nil {
		return pipeline.PolicyResult{}, err
	}
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
