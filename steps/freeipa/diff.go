package freeipa

import (
	"fmt"
	"maps"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Diff implements steps.Backend: attribute- and membership-level, pure.
// Fields absent from the spec are not compared. For freeipa.host the Before
// view carries hasKeytab (live) and deleteEnrolled (last applied spec), which
// the built-in policy enrolled-hosts reads.
func (b *Backend) Diff(t steps.Target, have steps.Live) (steps.Change, error) {
	kd := kindDefs[t.ID.Kind]
	if kd == nil {
		return steps.Change{}, fmt.Errorf("%s: not a FreeIPA kind", t.ID)
	}
	c := steps.Change{ID: t.ID, Target: t, Have: have}
	live, _ := have.(*Live)
	if t.Want != nil && t.Last != nil {
		if w, l := normKey(kd.kind, kd.key(t.Want)), normKey(kd.kind, kd.key(t.Last)); w != l {
			return c, fmt.Errorf("the %s changed from %s to %s: FreeIPA cannot rename it; declare a new resource for %s and remove this one", kd.keyField, l, w, w)
		}
	}
	if live != nil {
		c.Before = beforeView(kd, t, live)
	}
	if t.Want != nil {
		c.After = kd.view(t.Want)
	}
	switch {
	case t.Want == nil && live == nil:
		c.Action = steps.NoOp
	case t.Want == nil:
		if live.IPAServer {
			return c, fmt.Errorf("%s is an IPA server (member of host group ipaservers): remove it with ipa server-del, not by the runner", live.Key)
		}
		c.Action = steps.Delete
		c.Fields = steps.DiffFields(live.Attrs, nil)
		if live.HasKeytab {
			c.Notes = append(c.Notes, "the host is enrolled (has a keytab)")
		}
	case live == nil:
		c.Action = steps.Create
		c.Fields = steps.DiffFields(nil, c.After)
		if h, ok := t.Want.(HostSpec); ok && (h.OneTimePassword == nil || *h.OneTimePassword) {
			c.Notes = append(c.Notes, "a one-time enrolment password will be written to the secret directory")
		}
	default:
		want := kd.want(t.Want)
		before := make(map[string]any, len(want))
		for k := range want {
			before[k] = live.Attrs[k]
		}
		c.Fields = steps.DiffFields(before, want)
		c.Action = steps.Update
		if len(c.Fields) == 0 {
			c.Action = steps.NoOp
		}
	}
	return c, nil
}

// beforeView is the live object for reports and policies.
func beforeView(kd *kindDef, t steps.Target, live *Live) map[string]any {
	v := maps.Clone(live.Attrs)
	v[kd.keyField] = live.Key
	if kd.kind == KindHost {
		v["hasKeytab"] = live.HasKeytab
		last, _ := t.Last.(HostSpec)
		v["deleteEnrolled"] = last.DeleteEnrolled
		if live.IPAServer {
			v["ipaServer"] = true
		}
	}
	return v
}
