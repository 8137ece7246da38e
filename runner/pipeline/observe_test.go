package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

// keptState is a live state a backend took from an earlier read.
type keptState struct{ at time.Time }

func (k keptState) KeptSince() time.Time { return k.at }

// A plan may change nothing that was not read live in the run: keptChanges
// counts the changes (or, when planning failed, the states) that would need
// reading again, and observedSummary says where the states came from.
func TestKeptChangesAndObservedSummary(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)
	a, b, c := steps.ID{Kind: "k", Name: "a"}, steps.ID{Kind: "k", Name: "b"}, steps.ID{Kind: "k", Name: "c"}
	live := map[steps.ID]steps.Live{a: keptState{t0.Add(time.Hour)}, b: keptState{t0}, c: "read now"}
	tests := []struct {
		name    string
		actions map[steps.ID]steps.Action
		ds      Diagnostics
		want    int
	}{
		{"no-op from kept reads", map[steps.ID]steps.Action{a: steps.NoOp, b: steps.NoOp, c: steps.Update}, nil, 0},
		{"a change from a kept read", map[steps.ID]steps.Action{a: steps.Update, b: steps.NoOp, c: steps.Update}, nil, 1},
		{"two", map[steps.ID]steps.Action{a: steps.Delete, b: steps.Replace, c: steps.NoOp}, nil, 2},
		{"planning failed", map[steps.ID]steps.Action{a: steps.NoOp, b: steps.NoOp, c: steps.NoOp}, Diagnostics{{Summary: "x"}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := &steps.Plan{}
			for _, id := range []steps.ID{a, b, c} {
				plan.Changes = append(plan.Changes, steps.Change{ID: id, Action: tc.actions[id], Have: live[id]})
			}
			if got := keptChanges(plan, live, tc.ds); got != tc.want {
				t.Errorf("keptChanges = %d, want %d", got, tc.want)
			}
		})
	}

	plan := &steps.Plan{Changes: []steps.Change{{ID: a, Have: live[a]}, {ID: b, Have: live[b]}, {ID: c, Have: live[c]},
		{ID: steps.ID{Kind: "k", Name: "new"}, Action: steps.Create}}}
	entries, _ := planEntries(plan)
	o := observedSummary(plan, entries)
	if o.Live != 1 || o.Cached != 2 || o.CachedSince == nil || !o.CachedSince.Equal(t0) {
		t.Errorf("observed = %+v, want 1 live, 2 cached since %v", o, t0)
	}
	for _, e := range entries {
		want := map[string]time.Time{"k/a": t0.Add(time.Hour), "k/b": t0}[e.ID]
		if got := e.CachedSince; (got == nil) != want.IsZero() || got != nil && !got.Equal(want) {
			t.Errorf("%s cachedSince = %v, want %v", e.ID, got, want)
		}
	}
	if line := o.line(); !strings.Contains(line, "1 read live in this run, 2 unchanged resources from a read of 2026-11-29T20:00:00Z") {
		t.Errorf("STATUS.md line = %q", line)
	}
	if line := (&Observed{Live: 3}).line(); line != "" {
		t.Errorf("all read live: STATUS.md line %q, want none", line)
	}
}
