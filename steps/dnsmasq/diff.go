package dnsmasq

import (
	"fmt"
	"slices"

	"github.com/gitops-runner/gitops-runner/steps"
)

// fileEdit is one rewrite of one site's file: the lines with a key in drop
// go, add is appended.
type fileEdit struct {
	site string
	f    file
	drop []string
	add  []string
}

// Diff implements steps.Backend, line by line: the lines the spec renders
// against the lines the file has for the resource. Equal sets of lines are
// a no-op; otherwise the change drops the resource's old lines (by their
// keys, see lineKey) and appends the new ones. A resource that moved to
// another site is a replace: its lines leave the old site's file. The files
// are the runner's own, so lines found there are the runner's even when the
// inventory does not list them (a run that died after writing): they are
// taken over, not refused. A resource whose site could not be read
// (Live.Unknown) is a blocked change, see blockedChange. It does no I/O.
func (b *Backend) Diff(t steps.Target, have steps.Live) (steps.Change, error) {
	c := steps.Change{ID: t.ID, Target: t, Have: have}
	live, _ := have.(*Live)
	if live == nil {
		live = &Live{}
	}
	why := unknownOf(live)
	if why == "" && t.Want != nil {
		why = b.unknownSite(siteOf(t.Want))
	}
	if why != "" {
		return blockedChange(c, why), nil
	}
	f := fileOf(t.ID.Kind)
	var dropKeys []string
	for _, spec := range []steps.Spec{t.Want, t.Last} {
		if spec != nil {
			dropKeys = append(dropKeys, keys(spec)...)
		}
	}
	var before any
	if len(live.Lines) > 0 {
		before = parseSpec(t.ID.Kind, live.Site, live.Lines)
	}
	if t.Want == nil {
		if len(live.Lines) == 0 {
			c.Action, c.Notes = steps.NoOp, []string{"no lines left in the file"}
			return c, nil
		}
		c.Action, c.Before = steps.Delete, before
		c.Fields = steps.DiffFields(before, nil)
		c.Detail = []fileEdit{{site: live.Site, f: f, drop: dropKeys}}
		c.Notes = lineNotes(live.File, live.Lines, nil)
		return c, nil
	}
	site := siteOf(t.Want)
	s, err := b.site(site)
	if err != nil {
		return c, err
	}
	want := lines(t.Want)
	c.After = t.Want
	var edits []fileEdit
	if old := live.Old; old != nil && len(old.Lines) > 0 {
		edits = append(edits, fileEdit{site: old.Site, f: f, drop: dropKeys})
		c.Notes = append(c.Notes, fmt.Sprintf("moves from site %s to site %s", old.Site, site))
		c.Notes = append(c.Notes, lineNotes(old.File, old.Lines, nil)...)
		if before == nil {
			before = parseSpec(t.ID.Kind, old.Site, old.Lines)
		}
	}
	if !sameLines(live.Lines, want) {
		edits = append(edits, fileEdit{site: site, f: f, drop: dropKeys, add: want})
		c.Notes = append(c.Notes, lineNotes(s.path(f), live.Lines, want)...)
	}
	switch {
	case len(edits) == 0:
		c.Action = steps.NoOp
	case live.Old != nil:
		c.Action = steps.Replace
	case len(live.Lines) == 0:
		c.Action = steps.Create
	default:
		c.Action = steps.Update
	}
	c.Before = before
	if c.Action != steps.NoOp {
		c.Fields = steps.DiffFields(before, t.Want)
		if len(c.Fields) == 0 {
			// The lines differ in what the spec does not model (a
			// hand-written alias after the name): show the lines.
			c.Fields = []steps.FieldChange{{Path: "lines", Before: live.Lines, After: want}}
		}
		c.Detail = edits
	}
	return c, nil
}

// sameLines compares two sets of lines, order ignored.
func sameLines(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// lineNotes are the per-line changes of one file, "- line" and "+ line".
func lineNotes(path string, have, want []string) []string {
	var out []string
	for _, l := range have {
		if !slices.Contains(want, l) {
			out = append(out, fmt.Sprintf("%s: - %s", path, l))
		}
	}
	for _, l := range want {
		if !slices.Contains(have, l) {
			out = append(out, fmt.Sprintf("%s: + %s", path, l))
		}
	}
	return out
}

// unknownOf is why the lines of the site a resource was last applied to
// are unknown in this run ("" when they were read). The site of its spec
// is in Backend.unknown instead: Observe gives no lines for it.
func unknownOf(live *Live) string {
	if live.Unknown != "" {
		return live.Unknown
	}
	if live.Old != nil {
		return live.Old.Unknown
	}
	return ""
}

// blockedChange is the change of a resource whose lines are unknown: its
// site could not be read, or is no longer configured. Whether it differs
// from its spec cannot be known, so it is never a no-op — a no-op would
// hide that it was not verified. It is a create (the inventory does not
// hold it), a delete (it left the repo) or an update, and Blocked says why:
// the executor skips it (and its dependents), the rest of the run applies,
// and the run's report lists it as skipped and the run as failed, so the
// next run tries again.
func blockedChange(c steps.Change, why string) steps.Change {
	t := c.Target
	switch {
	case t.Want == nil:
		c.Action = steps.Delete
	case t.Last == nil:
		c.Action = steps.Create
	default:
		c.Action = steps.Update
	}
	c.Before, c.After = t.Last, t.Want
	c.Fields = steps.DiffFields(t.Last, t.Want)
	c.Notes = []string{"not verified: its lines are unknown in this run"}
	c.Blocked = why
	return c
}
