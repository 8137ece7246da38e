package sim

import (
	"fmt"
	"slices"
	"strings"
)

// The *_show and *_find commands: LDAPRetrieve and LDAPSearch with their
// filters.

func (c *call) show(k *kindDef) (map[string]any, *Error) {
	e, _, err := c.lookup(k, c.str(k.pkey))
	if err != nil {
		return nil, err
	}
	return map[string]any{"result": c.render(e, c.view(false)), "value": e.pkey(), "summary": nil}, nil
}

// find is LDAPSearch.execute: criteria over the search attributes, exact
// attribute filters, membership filters, sorted by primary key, sizelimit.
func (c *call) find(k *kindDef) (map[string]any, *Error) {
	term := strings.ToLower(c.str("criteria"))
	limit := c.s.opts.SearchLimit
	if n, ok := c.p["sizelimit"].(int64); ok {
		if n < 0 {
			return nil, errValidation("sizelimit", "must be at least 0")
		}
		limit = int(n)
	}
	if n, ok := c.p["timelimit"].(int64); ok && n < 0 {
		return nil, errValidation("timelimit", "must be at least 0")
	}
	var matched []*entry
	for _, e := range c.s.st.sorted(k.name) {
		if term != "" && !c.matchTerm(k, e, term) {
			continue
		}
		if !c.matchFilters(k, e) {
			continue
		}
		matched = append(matched, e)
	}
	truncated := false
	if limit > 0 && len(matched) > limit {
		matched, truncated = matched[:limit], true
	}
	v := c.view(true)
	results := make([]any, len(matched))
	for i, e := range matched {
		results[i] = c.render(e, v)
	}
	res := map[string]any{"count": len(matched), "result": results, "truncated": truncated}
	format := k.findMany
	if len(matched) == 1 {
		format = k.findOne
	}
	res["summary"] = fmt.Sprintf(format, len(matched))
	if truncated {
		c.msgs = append(c.msgs, message(13017, "SearchResultTruncated", "warning",
			"Search result has been truncated: Configured size limit exceeded",
			map[string]any{"reason": "Configured size limit exceeded"}))
	}
	return res, nil
}

func (c *call) matchTerm(k *kindDef, e *entry, term string) bool {
	for _, a := range k.searchAttrs {
		for _, v := range e.Attrs[a] {
			if strings.Contains(strings.ToLower(v), term) {
				return true
			}
		}
	}
	return false
}

// matchFilters applies the find options: in_X/not_in_X (memberOf, nested
// included, as 389-ds keeps it), man_by_X/not_man_by_X, X/no_X (direct
// members), and plain attributes (exact, case-insensitive).
func (c *call) matchFilters(k *kindDef, e *entry) bool {
	for name, v := range c.p {
		if controlOpts[name] || v == nil {
			continue
		}
		if _, isFlag := v.(bool); isFlag {
			continue
		}
		want := attrValues(v)
		switch {
		case strings.HasPrefix(name, "not_in_"):
			if c.inGroups(e, strings.TrimPrefix(name, "not_in_"), want, true) {
				return false
			}
		case strings.HasPrefix(name, "in_"):
			if !c.inGroups(e, strings.TrimPrefix(name, "in_"), want, false) {
				return false
			}
		case strings.HasPrefix(name, "not_man_by_"):
			if hasRefs(e.Attrs["managedby"], strings.TrimPrefix(name, "not_man_by_"), want, true) {
				return false
			}
		case strings.HasPrefix(name, "man_by_"):
			if !hasRefs(e.Attrs["managedby"], strings.TrimPrefix(name, "man_by_"), want, false) {
				return false
			}
		case strings.HasPrefix(name, "no_") && kinds[strings.TrimPrefix(name, "no_")] != nil && k.memberAttrs["member"] != nil:
			if hasRefs(e.Attrs["member"], strings.TrimPrefix(name, "no_"), want, true) {
				return false
			}
		case kinds[name] != nil && k.memberAttrs["member"] != nil:
			if !hasRefs(e.Attrs["member"], name, want, false) {
				return false
			}
		case slices.Contains([]string{"enroll_by_user", "not_enroll_by_user", "man_host", "not_man_host"}, name) ||
			strings.HasPrefix(name, "membermanager_") || strings.HasPrefix(name, "not_membermanager_"):
			// relationships the simulator does not keep: nothing matches
			// a positive filter, everything a negative one.
			if !strings.HasPrefix(name, "not_") {
				return false
			}
		default:
			for _, w := range want {
				if !containsFold(e.Attrs[name], w) {
					return false
				}
			}
		}
	}
	return true
}

// hasRefs: all (or, with any, at least one) of names of kind are in refs.
func hasRefs(refs []string, kind string, names []string, anyOf bool) bool {
	for _, n := range names {
		in := containsFold(refs, kind+":"+n)
		if anyOf && in {
			return true
		}
		if !anyOf && !in {
			return false
		}
	}
	return !anyOf
}

func (c *call) inGroups(e *entry, kind string, names []string, anyOf bool) bool {
	inv := c.inv()
	all := closure(inv[strings.ToLower(e.ref())], func(r string) []string { return inv[strings.ToLower(r)] })
	return hasRefs(all, kind, names, anyOf)
}
