package main

import (
	"context"
	"errors"
	"time"

	"github.com/gitops-runner/gitops-runner/policy"
	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

// opaPolicy adapts package policy (OPA) to the pipeline's Policy interface:
// it compiles the commit's policy files with the built-ins the config leaves
// on, and evaluates the run's input document.
type opaPolicy struct{ opts policy.Options }

func newPolicy(cfg *config.Config) (*opaPolicy, error) {
	known := map[string]bool{}
	for _, b := range policy.Builtins() {
		known[b] = true
	}
	for _, d := range cfg.Policy.Disabled {
		if !known[d] {
			return nil, errors.New("config: policy.disabled: no built-in policy " + d + " (built-ins: " + joinNames(policy.Builtins()) + ")")
		}
	}
	return &opaPolicy{opts: policy.Options{
		Disabled: cfg.Policy.Disabled,
		Timeout:  time.Duration(cfg.Policy.Timeout),
		Config:   policy.Config{Overcommit: cfg.Policy.Overcommit, Zones: cfg.Policy.Zones},
	}}, nil
}

func joinNames(ns []string) string {
	out := ""
	for i, n := range ns {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

func toPolicyFiles(files []pipeline.PolicyFile) []policy.File {
	out := make([]policy.File, len(files))
	for i, f := range files {
		out[i] = policy.File{Path: f.Path, Source: f.Source}
	}
	return out
}

// Check implements pipeline.Policy.
func (p *opaPolicy) Check(ctx context.Context, files []pipeline.PolicyFile, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	set, err := policy.Compile(ctx, toPolicyFiles(files), p.opts)
	if err != nil {
		return pipeline.PolicyResult{}, err
	}
	res, err := set.Eval(ctx, in)
	if err != nil {
		return pipeline.PolicyResult{}, err
	}
	conv := func(fs []policy.Finding) []pipeline.Finding {
		var out []pipeline.Finding
		for _, f := range fs {
			out = append(out, pipeline.Finding{Message: f.Message, File: f.File, Line: f.Line, Rule: f.Rule})
		}
		return out
	}
	return pipeline.PolicyResult{Deny: conv(res.Deny), Warn: conv(res.Warn)}, nil
}
