package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/gitops-runner/gitops-runner/steps"
)

// This file is the composition of a run without a push (`runner serve`,
// `runner reconcile`): a drift check of the deployed commit that applies
// the part of its plan that time alone made due (certificate renewals) and
// the drift of the kinds the operator lets heal. The rest stays recorded
// drift.

// Reconcile says what a drift run of the deployed commit may apply.
type Reconcile struct {
	// Renewals applies changes that only time made due: certificates
	// expired or inside their renewal window (a backend says which, see
	// Renewer).
	Renewals bool
	// SelfHeal lists the kinds (e.g. "route53.record") whose drift is
	// applied: creates, updates and replaces of resources the runner owns.
	// Deletes are never applied without a push.
	SelfHeal []string
}

// Renewer is implemented by backends whose changes can be due by time
// alone (steps/acme: a certificate in its renewal window).
type Renewer interface {
	// Renewal reports whether the planned change only renews what the
	// deployed commit already declares.
	Renewal(c steps.Change) bool
}

// Selection is the part of a deployed commit's plan that a reconcile run
// applies.
type Selection struct {
	// Plan holds the selected changes, in the plan's order, with the
	// dependencies among them.
	Plan *steps.Plan
	// Renewals counts the selected renewals; the other selected changes
	// heal drift.
	Renewals int
	// Held says, per change left out of Plan, why it is not applied.
	Held map[steps.ID]string
}

// SelectReconcile picks from a plan of the deployed commit the changes a
// run without a push may apply. A change qualifies when it is a renewal
// (and rc.Renewals) or drift of a kind in rc.SelfHeal (not a delete), of a
// resource the runner owns whose spec is the one it last applied. A change
// that depends on a change not selected is held too (to a fixed point): it
// would apply on top of a changed input. renewal says which changes are
// renewals (nil: none). Pure.
func SelectReconcile(plan *steps.Plan, rc Reconcile, renewal func(steps.Change) bool) Selection {
	heal := map[string]bool{}
	for _, k := range rc.SelfHeal {
		heal[k] = true
	}
	sel := Selection{Plan: &steps.Plan{Deps: map[steps.ID][]steps.ID{}}, Held: map[steps.ID]string{}}
	pending := map[steps.ID]bool{} // changes that are not no-ops
	picked := map[steps.ID]bool{}
	isRenewal := map[steps.ID]bool{}
	for _, c := range plan.Changes {
		if c.Action == steps.NoOp {
			continue
		}
		pending[c.ID] = true
		ren := renewal != nil && renewal(c)
		// The reasons a push alone can lift come first: selfHeal does not
		// matter for a change that would not heal even if it listed the kind
		// (e.g. the spec a failed deploy left pending).
		switch {
		case ren && !rc.Renewals:
			sel.Held[c.ID] = "a renewal; reconcile.renewals is off"
		case !ren && c.Action == steps.Delete:
			sel.Held[c.ID] = "a delete; only a push deletes"
		case !c.Target.Owned() || c.Target.RenamedFrom != (steps.ID{}):
			sel.Held[c.ID] = "not (yet) owned under this name; only a push applies it"
		case !sameSpec(c.Target.Want, c.Target.Last):
			sel.Held[c.ID] = "its spec differs from the one last applied; only a push applies it"
		case !ren && !heal[c.ID.Kind]:
			sel.Held[c.ID] = "drift; reconcile.selfHeal does not list " + c.ID.Kind
		default:
			picked[c.ID] = true
			isRenewal[c.ID] = ren
		}
	}
	// Hold what depends on a pending change that is not applied with it.
	for changed := true; changed; {
		changed = false
		for id := range picked {
			for _, d := range plan.Deps[id] {
				if pending[d] && !picked[d] {
					delete(picked, id)
					sel.Held[id] = "depends on " + d.String() + ", which changes and is not applied without a push"
					changed = true
					break
				}
			}
		}
	}
	for _, c := range plan.Changes {
		if !picked[c.ID] {
			continue
		}
		sel.Plan.Changes = append(sel.Plan.Changes, c)
		if isRenewal[c.ID] {
			sel.Renewals++
		}
		for _, d := range plan.Deps[c.ID] {
			if picked[d] {
				sel.Plan.Deps[c.ID] = append(sel.Plan.Deps[c.ID], d)
			}
		}
	}
	return sel
}

// sameSpec reports whether two decoded specs are the same (as JSON, which
// is how the inventory keeps them).
func sameSpec(a, b steps.Spec) bool {
	if a == nil || b == nil {
		return false
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// HeldNote starts the plan note of a change a renew or heal pass held
// back for a push ("not applied: drift; …").
const HeldNote = "not applied: "

// restrict narrows a prepared drift run to what rc lets it apply: the
// plan and the policy input become the selection, the report's kind
// renew or heal. Each held change gets a note saying why; with nothing
// selected the run stays a drift check of the whole plan.
func (r *Runner) restrict(p *prepared, rc Reconcile, rep *Report, log logrus.FieldLogger) {
	renewal := func(c steps.Change) bool {
		b, ok := r.Registry.Backend(c.ID.Kind)
		if !ok {
			return false
		}
		rn, ok := b.(Renewer)
		return ok && rn.Renewal(c)
	}
	sel := SelectReconcile(p.plan, rc, renewal)
	for i := range rep.Plan {
		id, err := steps.ParseID(rep.Plan[i].ID)
		if err != nil {
			continue
		}
		if why, ok := sel.Held[id]; ok {
			rep.Plan[i].Notes = append(rep.Plan[i].Notes, HeldNote+why)
		}
	}
	if len(sel.Plan.Changes) == 0 {
		return
	}
	rep.Kind = KindHeal
	if sel.Renewals == len(sel.Plan.Changes) {
		rep.Kind = KindRenew
	}
	log.WithField("apply", len(sel.Plan.Changes)).WithField("held", len(sel.Held)).
		Info(fmt.Sprintf("%s: %d of %d changes are due without a push", rep.Kind, len(sel.Plan.Changes), p.plan.Changed()))
	p.input = BuildPolicyInput(p.loaded.Resources, sel.Plan, p.inv.Resources, p.renames, p.push, rep.Live)
	p.plan = sel.Plan
}

// recovers reports whether a drift check that found the live state in
// sync follows a failed drift check or a failed or denied self-heal of
// the same commit, the last status recorded: it is then recorded, so the
// status history (and `runner monitor`, and the mail) see that the
// unattended passes work again. A failed renewal is left out: while its
// order backs off, the check plans nothing for it, which is no recovery;
// the next renewal that succeeds is.
func (r *Runner) recovers(rep *Report) bool {
	b, err := r.Repo.StatusFile(r.StatusBranch, "status.json")
	if err != nil || b == nil {
		return false
	}
	var last Report
	if json.Unmarshal(b, &last) != nil || last.Source.Commit != rep.Source.Commit {
		return false
	}
	return slices.Contains([]RunKind{KindDrift, KindHeal}, last.Kind) &&
		(last.Result == ResultFailed || last.Result == ResultDenied)
}
