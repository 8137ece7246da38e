package pipeline

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/steps"
)

// releaseAdopted marks for release (steps.Release) every target that left
// the repo and that the runner adopted rather than created: a replay
// restores the world of an older commit, and in that world the object
// existed without the runner, so the replay stops managing it instead of
// deleting it. What the runner created since is deleted as usual.
func releaseAdopted(targets []steps.Target, inv *Inventory) {
	adopted := make(map[steps.ID]bool, len(inv.Resources))
	for _, rec := range inv.Resources {
		adopted[rec.ID] = rec.Adopted
	}
	for i, t := range targets {
		if t.Want == nil && adopted[t.ID] {
			targets[i].Release = true
		}
	}
}

// replayWarning is the warning every plan and check of the branch carries
// while the deployed commit is a replay (inv.Replay) and commit, the one
// planned or checked, is not that commit and has a different tree: the
// branch still contains the changes the replay rolled back, and deploying
// it re-applies them. A zero Diagnostic when there is nothing to warn
// about.
func (r *Runner) replayWarning(inv *Inventory, commit plumbing.Hash) Diagnostic {
	if inv == nil || inv.Replay == nil || inv.Commit == "" || commit.String() == inv.Commit {
		return Diagnostic{}
	}
	if r.sameTree(commit, plumbing.NewHash(inv.Commit)) {
		return Diagnostic{} // the branch was reverted to what the replay deployed
	}
	replayed := gitstore.Short(inv.Commit)
	var about []string
	if inv.Replay.By != "" {
		about = append(about, "by "+inv.Replay.By)
	}
	if rep := inv.Replay.Replaced; rep != "" && rep != inv.Commit {
		about = append(about, "replacing "+gitstore.Short(rep))
	}
	// Every commit after the replayed one up to the commit at hand: what
	// the replay rolled back plus whatever came since. (The replaced commit
	// is no bound: it may itself be a replay of an older one.)
	how := fmt.Sprintf(" (`git revert --no-commit %s..%s`, commit, push)", replayed, gitstore.Short(commit.String()))
	who := ""
	if len(about) > 0 {
		who = " (" + strings.Join(about, ", ") + ")"
	}
	return Diagnostic{Severity: SeverityWarning,
		Summary: fmt.Sprintf("%s still contains the changes rolled back by replay of %s%s; `git revert` them to make the rollback permanent%s",
			r.Branch, replayed, who, how)}
}

// sameTree reports whether two commits have the same tree (false when
// either cannot be read).
func (r *Runner) sameTree(a, b plumbing.Hash) bool {
	ca, err := r.Repo.Commit(a)
	if err != nil {
		return false
	}
	cb, err := r.Repo.Commit(b)
	if err != nil {
		return false
	}
	return ca.TreeHash == cb.TreeHash
}

// oneLine keeps a name from the environment ($GL_USER) to one line, so it
// cannot add trailers to a status commit message or rows to STATUS.md.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }), " ")
}
