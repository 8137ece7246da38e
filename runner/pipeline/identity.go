package pipeline

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Identities keeps one live object managed by at most one resource. Each
// backend names the live object a target manages (steps.Identifier: a
// Proxmox VMID, a Route 53 name and type, a FreeIPA name, a certificate's
// directory). When two targets share an identity:
//
//   - one desired resource that the runner does not own yet, and one owned
//     resource of the same kind that left the repo: a rename. The inventory
//     entry moves to the new name (the target takes over its last spec and
//     state), and nothing is deleted.
//   - anything else (two desired resources, a desired resource and another
//     owned one that stays, different kinds): an error naming both, before
//     anything is applied.
//
// It returns the targets with renames resolved, and the diagnostics.
func Identities(reg *steps.Registry, targets []steps.Target) ([]steps.Target, Diagnostics) {
	byKey := map[string][]int{}
	var keys []string
	for i, t := range targets {
		b, ok := reg.Backend(t.ID.Kind)
		if !ok {
			continue
		}
		idf, ok := b.(steps.Identifier)
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, k := range idf.Identities(t) {
			k = b.Name() + ":" + k
			if seen[k] {
				continue
			}
			seen[k] = true
			if len(byKey[k]) == 0 {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], i)
		}
	}
	sort.Strings(keys)

	var ds Diagnostics
	drop := map[int]bool{}
	reported := map[string]bool{}
	for _, k := range keys {
		idx := byKey[k]
		if len(idx) < 2 {
			continue
		}
		var desired, leaving []int
		for _, i := range idx {
			if targets[i].Want != nil {
				desired = append(desired, i)
			} else {
				leaving = append(leaving, i)
			}
		}
		if len(desired) == 1 && len(leaving) == 1 {
			n, o := &targets[desired[0]], targets[leaving[0]]
			if n.RenamedFrom == o.ID || drop[leaving[0]] {
				continue // the same rename, found through another identity
			}
			if !n.Owned() && n.RenamedFrom == (steps.ID{}) && n.ID.Kind == o.ID.Kind {
				n.Last, n.State, n.RenamedFrom = o.Last, o.State, o.ID
				drop[leaving[0]] = true
				continue
			}
		}
		var names []string
		for _, i := range idx {
			what := "desired"
			if targets[i].Want == nil {
				what = "owned, left the repo"
			} else if targets[i].Owned() {
				what = "desired, owned"
			}
			names = append(names, fmt.Sprintf("%s (%s)", targets[i].ID, what))
		}
		msg := "these resources manage one live object (" + k + "): " + strings.Join(names, ", ")
		if reported[msg] {
			continue
		}
		reported[msg] = true
		hint := "one live object can be managed by one resource only: remove or change all but one of them. " +
			"To rename a resource, change its name in one commit and keep everything else; the runner moves its inventory entry."
		if len(desired) == 1 && len(leaving) == 1 && targets[desired[0]].ID.Kind != targets[leaving[0]].ID.Kind {
			hint = fmt.Sprintf("a %s cannot become a %s in place: push the removal of %s first (it is deleted), then add %s",
				targets[leaving[0]].ID.Kind, targets[desired[0]].ID.Kind, targets[leaving[0]].ID, targets[desired[0]].ID)
		}
		ds = append(ds, Diagnostic{Resource: targets[idx[0]].ID.String(), Summary: msg, Hint: hint})
	}
	if len(ds) > 0 {
		return nil, ds
	}
	if len(drop) == 0 {
		return targets, nil
	}
	out := make([]steps.Target, 0, len(targets)-len(drop))
	for i, t := range targets {
		if !drop[i] {
			out = append(out, t)
		}
	}
	return out, nil
}
