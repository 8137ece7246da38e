package pipeline

import (
	"fmt"
	"sort"

	"github.com/sirupsen/logrus"

	"github.com/gitops-runner/gitops-runner/steps"
)

// MakePlan diffs every target against its live state and orders the changes:
// dependsOn first, then the kinds' default ranks; deletes run in reverse.
// A desired resource that exists but that the runner does not own is an
// error unless the resource says adopt: true; then the change is an Adopt
// when the resource matches its spec. MakePlan does no I/O.
func MakePlan(reg *steps.Registry, desired []steps.Resource, inv *Inventory, targets []steps.Target, live map[steps.ID]steps.Live) (*steps.Plan, Diagnostics) {
	var ds Diagnostics
	changes := make(map[steps.ID]steps.Change, len(targets))
	ids := make([]steps.ID, 0, len(targets))
	for _, t := range targets {
		have := live[t.ID]
		if t.Want != nil && !t.Owned() && !t.Adopt && have != nil {
			ds = append(ds, Diagnostic{Resource: t.ID.String(), Summary: "already exists, and the runner did not create it",
				Hint: "to manage the existing one, set adopt: true on the resource; otherwise rename the resource"})
			continue
		}
		var c steps.Change
		switch {
		case t.Want == nil && t.Release:
			c = steps.Change{ID: t.ID, Action: steps.Release, Target: t, Have: have,
				Notes: []string{"adopted: the runner did not create it; it stops managing it and leaves it as it is"}}
		case t.Want == nil && have == nil:
			c = steps.Change{ID: t.ID, Action: steps.NoOp, Target: t, Notes: []string{"already gone"}}
		default:
			b, _ := reg.Backend(t.ID.Kind)
			var err error
			c, err = b.Diff(t, have)
			if err != nil {
				ds = append(ds, Diagnostic{Resource: t.ID.String(), Summary: err.Error()})
				continue
			}
			c.ID, c.Target, c.Have = t.ID, t, have
			if !t.Owned() && t.Adopt && have != nil {
				switch c.Action {
				case steps.NoOp:
					c.Action = steps.Adopt
				case steps.Update, steps.Replace:
					c.Notes = append(c.Notes, "adopt: the runner takes over the existing resource with this change")
				}
			}
		}
		if t.RenamedFrom != (steps.ID{}) {
			c.Notes = append(c.Notes, fmt.Sprintf("renamed from %s: its inventory entry moves here, nothing is deleted", t.RenamedFrom))
		}
		changes[t.ID] = c
		ids = append(ids, t.ID)
	}
	if len(ds) > 0 {
		return nil, ds
	}

	deps := map[steps.ID][]steps.ID{}
	for _, r := range desired {
		deps[r.ID] = append(deps[r.ID], r.DependsOn...)
	}
	// A resource being deleted waits for the deletes of the resources that
	// depended on it when they were applied (inventory), the reverse order.
	for _, rec := range inv.Resources {
		if changes[rec.ID].Action != steps.Delete {
			continue
		}
		for _, d := range rec.DependsOn {
			if changes[d].Action == steps.Delete {
				deps[d] = append(deps[d], rec.ID)
			}
		}
	}
	priority := func(id steps.ID) int {
		if changes[id].Action == steps.Delete {
			return 1000 - reg.Rank(id.Kind)
		}
		return reg.Rank(id.Kind)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Less(ids[j]) })
	order, err := steps.Order(ids, deps, priority)
	if err != nil {
		return nil, Diagnostics{{Summary: err.Error(), Hint: "check dependsOn of the resources named"}}
	}
	p := &steps.Plan{Deps: deps, Changes: make([]steps.Change, len(order))}
	for i, id := range order {
		p.Changes[i] = changes[id]
	}
	return p, nil
}

// planEntries is the plan as the report holds it, with the count of each
// action (computed here, once).
func planEntries(p *steps.Plan) ([]PlanEntry, map[string]int) {
	counts := map[string]int{}
	if p == nil {
		return []PlanEntry{}, counts
	}
	for a, n := range p.Counts() {
		counts[string(a)] = n
	}
	out := make([]PlanEntry, 0, len(p.Changes))
	for _, c := range p.Changes {
		e := PlanEntry{ID: c.ID.String(), Action: c.Action, Fields: c.Fields, Notes: c.Notes, Blocked: c.Blocked}
		if from := c.Target.RenamedFrom; from != (steps.ID{}) {
			e.RenamedFrom = from.String()
			counts["rename"]++
		}
		out = append(out, e)
	}
	return out, counts
}

// logPlan logs every change of the plan on one line.
func logPlan(log logrus.FieldLogger, entries []PlanEntry) {
	for _, e := range entries {
		if !e.shown() {
			continue
		}
		l := log.WithField("resource", e.ID)
		if e.Blocked != "" {
			l.Warn("plan: " + string(e.Action) + " " + fieldsLine(e))
			continue
		}
		l.Info("plan: " + string(e.Action) + " " + fieldsLine(e))
	}
}
