package main

import (
	"errors"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/policy"
	"github.com/gitops-runner/gitops-runner/runner/config"
)

// newPolicy builds the pipeline's policy step from the configuration,
// refusing unknown built-in names.
func newPolicy(cfg *config.Config) (*policy.Checker, error) {
	known := map[string]bool{}
	for _, b := range policy.Builtins() {
		known[b] = true
	}
	for _, d := range cfg.Policy.Disabled {
		if !known[d] {
			return nil, errors.New("config: policy.disabled: no built-in policy " + d + " (built-ins: " + strings.Join(policy.Builtins(), ", ") + ")")
		}
	}
	return &policy.Checker{Options: policy.Options{
		Disabled: cfg.Policy.Disabled,
		Timeout:  time.Duration(cfg.Policy.Timeout),
		Config:   policy.Config{Overcommit: cfg.Policy.Overcommit, Zones: cfg.Policy.Zones},
	},
		// A push's policies run in a child process the kernel limits.
		Isolate: true,
		Memory:  uint64(cfg.Limits.MaxMemoryMiB) << 20, //nolint:gosec // validated non-negative MiB count
	}, nil
}
