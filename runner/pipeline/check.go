package pipeline

import (
	"context"
)

// CheckResult is the verdict of Check on a pushed commit.
type CheckResult struct {
	Commit    string
	Resources int
	Errors    Diagnostics
	// Warnings do not reject the push: e.g. that the branch still contains
	// what a replay rolled back.
	Warnings Diagnostics
	Policy   PolicyResult
}

// PolicyStarter is a Policy that can start its work ahead of a check (the
// policy's sandbox child, policy.Checker), so that the start overlaps the
// evaluation. The returned Policy checks as the original would; stop ends
// what was started when no Check came, and must be called in every case.
type PolicyStarter interface {
	Start(ctx context.Context) (p Policy, stop func())
}

// Rejected reports whether the push should be refused.
func (c *CheckResult) Rejected() bool { return len(c.Errors) > 0 || len(c.Policy.Deny) > 0 }

// Check is the push-time check: steps 1, 2 and 5 (load, decode, policy)
// without a plan or live state. It touches no backend; policies get the live
// facts the last run recorded. A run-time problem (the repo or the status
// branch cannot be read) is an error; everything about the commit is in the
// result.
func (r *Runner) Check(ctx context.Context, commit string, push Push) (*CheckResult, error) {
	r.defaults()
	h, err := r.Repo.Resolve(commit)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{Commit: h.String()}
	// The policy child starts now: its start overlaps the evaluation.
	pol := r.Policy
	if s, ok := pol.(PolicyStarter); ok {
		started, stop := s.Start(ctx)
		defer stop()
		pol = started
	}
	loaded, _, ds := r.load(ctx, h, Vars{Branch: r.Branch, Pusher: push.User})
	if len(ds) > 0 {
		res.Errors = ds
		return res, nil
	}
	res.Resources = len(loaded.Resources)
	inv, err := ReadInventory(r.Repo, r.StatusBranch)
	if err != nil {
		return nil, err
	}
	if w := r.replayWarning(inv, h); w.Summary != "" {
		res.Warnings = append(res.Warnings, w)
	}
	// Two resources managing one live object are refused at push time; a
	// rename is told to the policies.
	var renames []Rename
	if targets, ds := Targets(r.Registry, loaded.Resources, inv); len(ds) == 0 {
		targets, ds := Identities(r.Registry, targets)
		if len(ds) > 0 {
			res.Errors = ds
			return res, nil
		}
		renames = renamesOf(targets)
	}
	if pol == nil {
		return res, nil
	}
	// No backend is asked at push time; the live facts the last run saw
	// (e.g. node capacities) let policies such as capacity decide now.
	in := BuildPolicyInput(loaded.Resources, nil, inv.Resources, renames, r.pushOf(loaded, push), r.lastLive())
	res.Policy, res.Errors = r.checkPolicy(ctx, pol, loaded, in)
	return res, nil
}
