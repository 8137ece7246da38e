package route53

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/gitops-runner/gitops-runner/steps"
)

// op is one Route 53 change of a planned change: a CREATE or UPSERT of a
// desired set (rendered at Apply, when the zone ID is known), or a DELETE of
// an observed set exactly as listed.
type op struct {
	zone   string
	action types.ChangeAction
	want   *Spec
	del    *Observed
}

// label names the record set an op touches, for messages.
func (o op) label() string {
	if o.want != nil {
		return specKey(*o.want).String()
	}
	return specKey(o.del.Spec).String()
}

// Diff implements steps.Backend: create (CREATE, which fails if someone
// created the set meanwhile), update (UPSERT), delete (DELETE of the exact
// live set), or replace when the resource now names another zone, name or
// type (DELETE of the old set, CREATE of the new one). It does no I/O.
func (b *Backend) Diff(t steps.Target, have steps.Live) (steps.Change, error) {
	c := steps.Change{ID: t.ID, Target: t, Have: have}
	var live Live
	if l, ok := have.(*Live); ok && l != nil {
		live = *l
	}
	cur := live.Record
	if cur != nil && cur.Routing {
		return c, fmt.Errorf("the live record set %s uses a routing policy (SetIdentifier %q); the runner manages only simple record sets", specKey(cur.Spec), derefString(cur.set.SetIdentifier))
	}
	want, hasWant := t.Want.(Spec)
	if !hasWant {
		if cur == nil {
			c.Action, c.Notes = steps.NoOp, []string{"already gone"}
			return c, nil
		}
		c.Action = steps.Delete
		c.Before = cur.Spec
		c.Fields = steps.DiffFields(cur.Spec, nil)
		c.Detail = []op{{zone: cur.Zone, action: types.ChangeActionDelete, del: cur}}
		if len(b.zones) > 0 && !slices.Contains(b.zones, cur.Zone) {
			// Its zone left backends.route53.zones after it was applied
			// (DecodeLast): the runner may no longer change that zone.
			c.Blocked = fmt.Sprintf("zone %s is no longer in backends.route53.zones (%s), so the runner may not delete this record set: put the zone back for one run to delete it, or remove %s from inventory.json on the status branch by hand, in the repository on the runner's host (the status branch takes no pushes), to leave it as it is",
				cur.Zone, strings.Join(b.zones, ", "), t.ID)
		}
		return c, nil
	}
	c.After = want
	var ops []op
	var before *Spec
	moved := false
	if last, ok := t.Last.(Spec); ok && specKey(last) != specKey(want) {
		if cur != nil && !t.Adopt {
			return c, fmt.Errorf("the record set %s already exists, and the runner did not create it: to manage it, set adopt: true on the resource", specKey(want))
		}
		if old := live.Old; old != nil {
			if old.Routing {
				return c, fmt.Errorf("the live record set %s uses a routing policy; the runner manages only simple record sets", specKey(old.Spec))
			}
			ops = append(ops, op{zone: old.Zone, action: types.ChangeActionDelete, del: old})
			before, moved = &old.Spec, true
		}
	}
	switch {
	case cur == nil:
		ops = append(ops, op{zone: want.Zone, action: types.ChangeActionCreate, want: &want})
	case !sameRecord(cur.Spec, want):
		ops = append(ops, op{zone: want.Zone, action: types.ChangeActionUpsert, want: &want})
	}
	if cur != nil {
		before = &cur.Spec
	}
	switch {
	case len(ops) == 0:
		c.Action = steps.NoOp
	case moved:
		c.Action = steps.Replace
	case cur == nil:
		c.Action = steps.Create
	default:
		c.Action = steps.Update
	}
	if before != nil {
		c.Before = *before
	}
	if c.Action != steps.NoOp {
		if before != nil {
			c.Fields = steps.DiffFields(*before, want)
		} else {
			c.Fields = steps.DiffFields(nil, want)
		}
		c.Detail = ops
	}
	return c, nil
}

// sameRecord compares the parts of a record set an UPSERT would change.
func sameRecord(have, want Spec) bool {
	ttl := func(p *int64) int64 {
		if p == nil {
			return -1
		}
		return *p
	}
	return ttl(have.TTL) == ttl(want.TTL) && reflect.DeepEqual(have.Alias, want.Alias) &&
		reflect.DeepEqual(have.Values, want.Values)
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
