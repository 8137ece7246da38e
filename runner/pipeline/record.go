package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/sirupsen/logrus"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/steps"
)

// record writes the status commit (STATUS.md, status.json, inventory.json)
// and the note on the source commit.
func (r *Runner) record(rep *Report, inv *Inventory, log logrus.FieldLogger) error {
	applied := inv != nil // the inventory of an apply, including any journal it recovered
	if inv == nil {
		prev, err := ReadInventory(r.Repo, r.StatusBranch)
		if err != nil {
			// Never overwrite an unreadable inventory with an empty one.
			return fmt.Errorf("record status: %w", err)
		}
		inv = prev
	}
	invJSON, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return fmt.Errorf("record status: %w", err)
	}
	files := map[string][]byte{
		"STATUS.md":      rep.Markdown(),
		"status.json":    rep.JSON(),
		"inventory.json": append(invJSON, '\n'),
	}
	// The status commit and the note on the source commit are one write:
	// two rounds of fsync (gitstore.Repo.RecordStatus says why that is
	// crash-safe).
	note := &gitstore.StatusNote{Commit: plumbing.NewHash(rep.Source.Commit),
		Line: func(status plumbing.Hash) string { return rep.NoteLine(status.String()) }}
	c, err := r.Repo.RecordStatus(r.StatusBranch, files, rep.CommitMessage(), rep.Finished, note)
	if err != nil {
		return fmt.Errorf("record status on branch %s and note on %s: %w", r.StatusBranch, gitstore.Short(rep.Source.Commit), err)
	}
	if r.Observer != nil {
		r.Observer.Recorded(rep, c.String())
	}
	// The inventory of an apply is committed, with whatever the journal of
	// an interrupted run added: the journal is no longer needed. (A run
	// that stopped before applying kept the old inventory: keep the journal.)
	if applied {
		if err := r.clearJournal(); err != nil {
			return fmt.Errorf("remove %s: %w", JournalFile, err)
		}
	}
	log.WithField("status", gitstore.Short(c.String())).Info(rep.Summary)
	return nil
}

// RecordSuperseded records that a pushed commit was not run because a newer
// push of the branch superseded it: a status commit and a note, inventory
// unchanged.
func (r *Runner) RecordSuperseded(commit, by string, push Push) (*Report, error) {
	r.defaults()
	rep := r.newReport(Request{Kind: KindDeploy, Push: push})
	rep.Result, rep.SupersededBy = ResultSuperseded, by
	return rep, r.recordNotRun(rep, commit)
}

// recordNotRun records a commit that was not run (superseded, given up):
// the report with its source filled in, as a status commit and a note;
// the inventory is unchanged.
func (r *Runner) recordNotRun(rep *Report, commit string) error {
	rep.Finished = rep.Started
	r.setSource(rep, commit)
	rep.summarize()
	return r.record(rep, nil, r.Log.WithField("run", rep.RunID))
}

// setSource fills the report's source commit and its subject.
func (r *Runner) setSource(rep *Report, commit string) {
	rep.Source.Commit = commit
	if h, err := r.Repo.Resolve(commit); err == nil {
		if c, err := r.Repo.Commit(h); err == nil {
			rep.Source.Subject, _, _ = strings.Cut(c.Message, "\n")
		}
	}
}

// sameDriftRecorded reports whether the last status commit already records
// this drift (the same kind and result, the same changes of the same
// commit, the same errors), so a periodic check does not repeat it every
// interval.
func (r *Runner) sameDriftRecorded(rep *Report) bool {
	b, err := r.Repo.StatusFile(r.StatusBranch, "status.json")
	if err != nil || b == nil {
		return false
	}
	var last Report
	if err := json.Unmarshal(b, &last); err != nil || last.Kind != rep.Kind || last.Result != rep.Result || last.Source.Commit != rep.Source.Commit {
		return false
	}
	key := func(ps []PlanEntry) string {
		var parts []string
		for _, p := range ps {
			if p.Action != steps.NoOp {
				f, _ := json.Marshal(p.Fields)
				parts = append(parts, string(p.Action)+" "+p.ID+" "+string(f))
			}
		}
		return strings.Join(parts, "\n")
	}
	errs := func(ds Diagnostics) string {
		var parts []string
		for _, d := range ds {
			parts = append(parts, d.Summary)
		}
		return strings.Join(parts, "\n")
	}
	return key(last.Plan) == key(rep.Plan) && last.Stage == rep.Stage && errs(last.Errors) == errs(rep.Errors)
}

// lastLive is the live summary recorded by the last run (status.json on
// statusBranch of repo), or nil.
func lastLive(repo *gitstore.Repo, statusBranch string) map[string]any {
	b, err := repo.StatusFile(statusBranch, "status.json")
	if err != nil || b == nil {
		return nil
	}
	var last struct {
		Live map[string]any `json:"live"`
	}
	if json.Unmarshal(b, &last) != nil {
		return nil
	}
	return last.Live
}
