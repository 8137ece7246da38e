package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
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
	// Took is how long the check's steps took, for the pusher to see where
	// a slow check spends its time.
	Took CheckTimes
}

// CheckTimes are the wall times of a check's steps that the pusher waits
// for. The policy files are compiled and the status branch is read while
// the commit is evaluated: they are in none of them.
type CheckTimes struct {
	// Evaluate is the Jsonnet evaluation, its child's start included (0
	// when an earlier evaluation of the commit was kept: Cached).
	Evaluate time.Duration
	Cached   bool
	// Decode is the decoding of the evaluated resources.
	Decode time.Duration
	// Policy is from the policy input's assembly to the policies' verdict.
	Policy time.Duration
}

// String is "evaluation 250 ms, decode <1 ms, policies 110 ms" (the steps
// that ran; "evaluation cached" when it did not).
func (t CheckTimes) String() string {
	var parts []string
	if t.Cached {
		parts = append(parts, "evaluation cached")
	}
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"evaluation", t.Evaluate}, {"decode", t.Decode}, {"policies", t.Policy}} {
		switch {
		case p.d >= time.Millisecond:
			parts = append(parts, fmt.Sprintf("%s %d ms", p.name, p.d.Milliseconds()))
		case p.d > 0:
			parts = append(parts, p.name+" <1 ms")
		}
	}
	return strings.Join(parts, ", ")
}

// PolicyStarter is a Policy that can start its work ahead of a check (the
// policy's sandbox child, policy.Checker), so that the start overlaps the
// evaluation. The returned Policy checks as the original would; stop ends
// what was started when no Check came, and must be called in every case.
type PolicyStarter interface {
	Start(ctx context.Context) (p Policy, stop func())
}

// PolicyPreparer is a started Policy (PolicyStarter) that can be handed the
// commit's policy files before the input is known, so that it compiles
// them while the evaluated output is decoded. Its Check is then given the
// same files.
type PolicyPreparer interface {
	Prepare(files []PolicyFile)
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
	// The evaluation child starts now, then the policy child: their starts
	// overlap the reading of the status branch, and the policy child's the
	// evaluation. (The evaluation child first: it is on the critical path.)
	ev := r.startEvaluation(ctx)
	if ev != nil {
		defer ev.Close()
	}
	pol := r.Policy
	if s, ok := pol.(PolicyStarter); ok {
		started, stop := s.Start(ctx)
		defer stop()
		pol = started
	}
	// The policy files and the status branch are read while the commit is
	// evaluated, through a handle of its own (a go-git repository is not
	// safe for concurrent use). (Without a handle, they are read
	// afterwards.)
	filesc := make(chan policyFiles, 1)
	statusc := make(chan checkStatus, 1)
	own, openErr := gitstore.OpenQuarantined(r.Repo.Path(), r.Repo.Quarantine())
	if openErr == nil {
		go func() {
			if pol != nil {
				filesc <- readPolicyFilesAt(own, h, pol)
			}
			statusc <- readCheckStatus(own, r.StatusBranch)
		}()
	}
	// Once the commit is evaluated, its child is reaped, and only then does
	// a started policy child get the files to compile (PolicyPreparer),
	// while the output is decoded: the two children never hold memory at
	// the same time, so a check holds at most one limits.maxMemoryMiB (and
	// an idle child's start), as when one ran after the other.
	var (
		pf       policyFiles
		prepared sync.WaitGroup
	)
	evaluated := func() {
		prepared.Go(func() {
			if ev != nil {
				ev.Close()
			}
			if openErr != nil || pol == nil {
				return
			}
			pf = <-filesc
			if p, ok := pol.(PolicyPreparer); ok && pf.read && pf.err == nil {
				p.Prepare(pf.files)
			}
		})
	}
	loaded, _, ds := r.load(ctx, h, Vars{Branch: r.Branch, Pusher: push.User}, ev, evaluated)
	prepared.Wait()
	var status checkStatus
	if openErr == nil {
		status = <-statusc // always: the goroutine ends here
	}
	if len(ds) > 0 {
		res.Errors = ds
		return res, nil
	}
	res.Resources = len(loaded.Resources)
	res.Took.Evaluate, res.Took.Decode, res.Took.Cached = loaded.Evaluated, loaded.Decoded, loaded.Cached
	if openErr != nil {
		status = readCheckStatus(r.Repo, r.StatusBranch)
	}
	inv := status.inv
	if status.err != nil {
		return nil, status.err
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
	policyStart := time.Now()
	defer func() { res.Took.Policy = time.Since(policyStart) }()
	in := BuildPolicyInput(loaded.Resources, nil, inv.Resources, renames, r.pushOf(loaded, push), status.live)
	if pf.read {
		res.Policy, res.Errors = r.judgePolicy(ctx, pol, pf, in)
		return res, nil
	}
	res.Policy, res.Errors = r.checkPolicy(ctx, pol, loaded, in)
	return res, nil
}

// readPolicyFilesAt reads the policy files of commit h (asking pol's
// SizeChecker first, as checkPolicy does). When the commit cannot be read
// here, the files are not read (read false).
func readPolicyFilesAt(repo *gitstore.Repo, h plumbing.Hash, pol Policy) policyFiles {
	snap, err := repo.Snapshot(h)
	if err != nil { // not read: checkPolicy reads them from the loaded commit
		return policyFiles{}
	}
	sc, _ := pol.(SizeChecker)
	files, err := ReadPolicyFiles(snap, sc)
	return policyFiles{files: files, err: err, read: true}
}

// checkStatus is what Check reads from the status branch: the inventory
// and the live facts the last run recorded (nil when none).
type checkStatus struct {
	inv  *Inventory
	live map[string]any
	err  error
}

func readCheckStatus(repo *gitstore.Repo, statusBranch string) checkStatus {
	inv, err := ReadInventory(repo, statusBranch)
	if err != nil {
		return checkStatus{err: err}
	}
	return checkStatus{inv: inv, live: lastLive(repo, statusBranch)}
}
