package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/steps"
)

// InventorySchema versions inventory.json.
const InventorySchema = "gitops-runner/inventory/v1"

// Inventory is what the runner owns: the resources it created or adopted,
// with the spec it last applied. It lives in inventory.json on the status
// branch.
type Inventory struct {
	Schema    string         `json:"schema"`
	Commit    string         `json:"commit,omitempty"`
	Resources []steps.Record `json:"resources"`
	// Replay is set while the deployed commit (Commit) was deployed by
	// `runner replay`; the next deploy clears it.
	Replay *Replay `json:"replay,omitempty"`
}

// Replay says that a run was a replay (`runner replay`): who ran it and
// which deployed commit it replaced. status.json and inventory.json hold it
// as "replay": {"by", "replaced"}.
type Replay struct {
	// By is who replayed: the Gitolite user ($GL_USER), else the OS user.
	By string `json:"by,omitempty"`
	// Replaced is the commit deployed before the replay (the full hash;
	// "" when nothing was deployed yet).
	Replaced string `json:"replaced,omitempty"`
}

// ReadInventory reads inventory.json from the tip of the status branch; an
// empty inventory when there is none yet.
func ReadInventory(repo *gitstore.Repo, statusBranch string) (*Inventory, error) {
	b, err := repo.StatusFile(statusBranch, "inventory.json")
	if err != nil {
		return nil, fmt.Errorf("read inventory from branch %s: %w", statusBranch, err)
	}
	inv := &Inventory{Schema: InventorySchema}
	if b == nil {
		return inv, nil
	}
	if err := json.Unmarshal(b, inv); err != nil {
		return nil, fmt.Errorf("read inventory.json on branch %s: %w (restore it from an earlier status commit)", statusBranch, err)
	}
	if inv.Schema != InventorySchema {
		return nil, fmt.Errorf("inventory.json on branch %s has schema %q; this runner reads %q (upgrade the runner)", statusBranch, inv.Schema, InventorySchema)
	}
	return inv, nil
}

// inventory is the inventory step: what the runner owns, from the status
// branch, plus what the journal of an interrupted run was creating.
func (r *Runner) inventory() (*Inventory, Diagnostics) {
	inv, err := ReadInventory(r.Repo, r.StatusBranch)
	if err != nil {
		return nil, diagnose(err, "")
	}
	n, err := r.recoverJournal(inv)
	if err != nil {
		return nil, diagnose(err, "")
	}
	if n > 0 {
		r.Log.WithField("resources", n).Warn("an earlier run was interrupted; the resources it was creating are owned")
	}
	return inv, nil
}

// Targets pairs desired resources with the inventory: every desired resource,
// plus every owned resource that left the repo (a delete candidate). Nothing
// outside the inventory is ever a delete candidate.
func Targets(reg *steps.Registry, desired []steps.Resource, inv *Inventory) ([]steps.Target, Diagnostics) {
	recs := make(map[steps.ID]steps.Record, len(inv.Resources))
	for _, r := range inv.Resources {
		recs[r.ID] = r
	}
	var ds Diagnostics
	last := func(rec steps.Record) steps.Spec {
		b, ok := reg.Backend(rec.ID.Kind)
		if !ok {
			ds = append(ds, Diagnostic{Resource: rec.ID.String(), Summary: "the inventory holds a resource of a kind no backend of this runner knows",
				Hint: "was a backend removed from the runner? restore it, or remove the entry from inventory.json on the status branch by hand, in the repository on the runner's host (the status branch takes no pushes)"})
			return nil
		}
		s, err := decodeLast(b, rec)
		if err != nil {
			ds = append(ds, Diagnostic{Resource: rec.ID.String(), Summary: "cannot decode the last applied spec from the inventory: " + err.Error(),
				Hint: lastHint(b, rec.ID)})
			return nil
		}
		return s
	}
	ts := make([]steps.Target, 0, len(desired)+len(inv.Resources))
	wanted := make(map[steps.ID]bool, len(desired))
	for _, r := range desired {
		wanted[r.ID] = true
		t := steps.Target{ID: r.ID, Want: r.Spec, Adopt: r.Adopt}
		if rec, ok := recs[r.ID]; ok {
			t.Last, t.State = lastOf(r, rec, last), rec.State
		}
		ts = append(ts, t)
	}
	for _, rec := range inv.Resources {
		if !wanted[rec.ID] {
			ts = append(ts, steps.Target{ID: rec.ID, Last: last(rec), State: rec.State})
		}
	}
	return ts, ds
}

// decodeLast decodes the spec a record holds: as it was applied, with the
// backend's DecodeLast (its shape only, nothing checked against the current
// config), else with its Decode.
func decodeLast(b steps.Backend, rec steps.Record) (steps.Spec, error) {
	if ld, ok := b.(steps.LastDecoder); ok {
		return ld.DecodeLast(rec.ID.Kind, rec.Spec)
	}
	return b.Decode(rec.ID.Kind, rec.Spec)
}

// lastHint says what to do about a record whose spec does not decode. A
// backend's DecodeLast checks only the spec's shape, so only a runner
// version that reads the format differently fails it; a backend's Decode
// also checks the spec against the backend's config, which may have changed
// since the spec was applied.
func lastHint(b steps.Backend, id steps.ID) string {
	forget := "; or, to stop managing it and leave it as it is, remove " + id.String() + " from inventory.json on the status branch by hand, in the repository on the runner's host (the status branch takes no pushes)"
	if _, ok := b.(steps.LastDecoder); ok {
		return "the spec format changed between runner versions: see the release notes" + forget
	}
	return "the spec was applied under another runner version or another backends." + b.Name() +
		" config: if the runner was upgraded, see the release notes; if the config changed, put back what the spec refers to" + forget
}

// lastOf is the last applied spec of a desired resource: the desired spec
// itself when the inventory recorded exactly it (the record holds the JSON
// of the decoded spec, NextInventory), which spares decoding it again —
// in a push that changes little, that is almost every resource. Specs are
// values nobody changes after decoding, so Want and Last may share one.
func lastOf(r steps.Resource, rec steps.Record, decode func(steps.Record) steps.Spec) steps.Spec {
	if r.Spec != nil {
		// inventory.json is indented, and so is a record's spec read back.
		var stored bytes.Buffer
		if b, err := json.Marshal(r.Spec); err == nil && json.Compact(&stored, rec.Spec) == nil && bytes.Equal(b, stored.Bytes()) {
			return r.Spec
		}
	}
	return decode(rec)
}

// NextInventory is the inventory after an apply: resources created, updated,
// replaced or adopted (or found in sync) are recorded with the spec applied;
// deleted and released ones are dropped; a failed create is recorded too, so the next run
// owns (and converges) whatever it left behind; anything else keeps its
// previous record.
func NextInventory(prev *Inventory, desired []steps.Resource, plan *steps.Plan, outs []steps.Outcome, commit string) (*Inventory, error) {
	recs := make(map[steps.ID]steps.Record, len(prev.Resources))
	for _, r := range prev.Resources {
		recs[r.ID] = r
	}
	want := make(map[steps.ID]steps.Resource, len(desired))
	for _, r := range desired {
		want[r.ID] = r
	}
	record := func(id steps.ID, state json.RawMessage) error {
		r := want[id]
		spec, err := json.Marshal(r.Spec)
		if err != nil {
			return fmt.Errorf("record %s: %w", id, err)
		}
		rec := steps.Record{ID: id, DependsOn: r.DependsOn, Spec: spec, Commit: commit, State: state}
		old, had := recs[id]
		if state == nil && had {
			rec.State = old.State
		}
		rec.Adopted = (had && old.Adopted) || (!had && r.Adopt)
		recs[id] = rec
		return nil
	}
	for i, o := range outs {
		c := plan.Changes[i]
		_, isWanted := want[o.ID]
		switch {
		case c.Action == steps.Delete && o.Status == steps.StatusOK:
			delete(recs, o.ID)
		case !isWanted && c.Action == steps.NoOp:
			delete(recs, o.ID) // left the repo and already gone
		case c.Action == steps.Release:
			delete(recs, o.ID) // released: left as it is, no longer owned
		case isWanted && (o.Status == steps.StatusOK || o.Status == steps.StatusNoOp):
			if err := record(o.ID, o.State); err != nil {
				return nil, err
			}
			if from := c.Target.RenamedFrom; from != (steps.ID{}) {
				rec := recs[o.ID]
				rec.Adopted = recs[from].Adopted
				if rec.State == nil {
					rec.State = recs[from].State
				}
				recs[o.ID] = rec
				delete(recs, from) // the rename is done: the old name owns nothing
			}
		case isWanted && c.Action == steps.Create && o.Status == steps.StatusFailed:
			if err := record(o.ID, o.State); err != nil {
				return nil, err
			}
		}
	}
	next := &Inventory{Schema: InventorySchema, Commit: commit}
	for _, r := range recs {
		next.Resources = append(next.Resources, r)
	}
	sort.Slice(next.Resources, func(i, j int) bool { return next.Resources[i].ID.Less(next.Resources[j].ID) })
	return next, nil
}
