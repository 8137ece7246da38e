package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"
	"github.com/gitops-runner/gitops-runner/steps"
)

// JournalFile is the write-ahead record of the resources an apply is about
// to create or adopt, in the repository's git directory. The inventory is
// committed only when a run ends; a runner killed in between would otherwise
// forget that it created them, and the next run would refuse them as
// "exists, not ours". The journal is written (fsync'd) before apply and
// removed once the status commit is recorded.
const JournalFile = "runner-journal.json"

type journal struct {
	Commit  string         `json:"commit"`
	Records []steps.Record `json:"records"`
}

func (r *Runner) journalPath() string { return filepath.Join(r.Repo.Path(), JournalFile) }

// writeJournal records the plan's creates and adoptions durably.
func (r *Runner) writeJournal(commit string, desired []steps.Resource, plan *steps.Plan) error {
	want := make(map[steps.ID]steps.Resource, len(desired))
	for _, d := range desired {
		want[d.ID] = d
	}
	j := journal{Commit: commit}
	for _, c := range plan.Changes {
		d, ok := want[c.ID]
		if !ok || c.Target.Owned() || (c.Action != steps.Create && !d.Adopt) {
			continue
		}
		spec, err := json.Marshal(d.Spec)
		if err != nil {
			return err
		}
		j.Records = append(j.Records, steps.Record{ID: c.ID, DependsOn: d.DependsOn, Adopted: d.Adopt, Spec: spec, Commit: commit})
	}
	if len(j.Records) == 0 {
		return nil
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(r.journalPath(), b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", JournalFile, err)
	}
	return nil
}

// recoverJournal adds the journal of an interrupted run to the inventory:
// resources it may have created are owned. It returns how many were added.
func (r *Runner) recoverJournal(inv *Inventory) (int, error) {
	b, err := os.ReadFile(r.journalPath())
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return 0, fmt.Errorf("%s in %s is damaged (%w); remove it if no runner is running", JournalFile, r.Repo.Path(), err)
	}
	have := make(map[steps.ID]bool, len(inv.Resources))
	for _, rec := range inv.Resources {
		have[rec.ID] = true
	}
	n := 0
	for _, rec := range j.Records {
		if !have[rec.ID] {
			inv.Resources = append(inv.Resources, rec)
			n++
		}
	}
	return n, nil
}

func (r *Runner) clearJournal() error {
	err := os.Remove(r.journalPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
