package freeipa

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Live is the observed state of one FreeIPA object.
type Live struct {
	Kind string `json:"kind"`
	Key  string `json:"key"`
	// Attrs are the object's managed attributes, in spec field names.
	Attrs map[string]any `json:"attrs"`
	// HasKeytab: the host is enrolled. host_find does not report
	// has_keytab (only host_show does); with all=true it returns
	// krblastpwdchange, which FreeIPA sets on a host exactly when it gets a
	// keytab and clears with the keys (ipa-pwd-extop prepost.c: "krbLastPwdChange
	// is used to tell whether we have a valid keytab"; ldap2.remove_principal_key).
	HasKeytab bool `json:"hasKeytab,omitempty"`
	// IPAServer: the host is a member of the ipaservers host group.
	IPAServer bool `json:"ipaServer,omitempty"`
}

// world is what one Observe read: per kind, key → entry (keys in the
// spec's form; lower case where FreeIPA is case-insensitive).
type world map[string]map[string]entry

func normKey(kind, key string) string {
	switch kind {
	case KindSudoRule:
		return key
	case KindService:
		svc, host, _ := strings.Cut(key, "/")
		return svc + "/" + strings.ToLower(host)
	}
	return strings.ToLower(key)
}

// targetKey is the object key a target observes: the desired spec's, or the
// last applied one's for a delete candidate.
func targetKey(kd *kindDef, t steps.Target) (string, bool) {
	switch {
	case t.Want != nil:
		return normKey(kd.kind, kd.key(t.Want)), true
	case t.Last != nil:
		return normKey(kd.kind, kd.key(t.Last)), true
	}
	return "", false
}

// Observe implements steps.Backend: one *_find per kind the targets need,
// with all=true and no size limit, run concurrently. It also checks that
// every referenced member exists in FreeIPA or is declared, and that no
// two resources declare the same object.
func (b *Backend) Observe(ctx context.Context, targets []steps.Target) (map[steps.ID]steps.Live, error) {
	if err := b.ready(true); err != nil {
		return nil, err
	}
	full := map[string]bool{}     // kinds read with all attributes
	refsOnly := map[string]bool{} // kinds read for their keys only
	for _, t := range targets {
		kd := kindDefs[t.ID.Kind]
		if kd == nil {
			return nil, fmt.Errorf("%s: not a FreeIPA kind", t.ID)
		}
		full[kd.kind] = true
		if t.Want == nil {
			continue
		}
		want := kd.want(t.Want)
		for _, m := range kd.members {
			if l, _ := want[m.field].([]string); len(l) > 0 && m.ref != "" {
				refsOnly["freeipa."+m.ref] = true
			}
		}
	}
	b.usePreferred(ctx)
	w, err := b.find(ctx, full, refsOnly)
	if err != nil {
		return nil, err
	}
	b.logServed()
	if err := checkTargets(targets, w); err != nil {
		return nil, err
	}
	out := make(map[steps.ID]steps.Live, len(targets))
	for _, t := range targets {
		kd := kindDefs[t.ID.Kind]
		key, ok := targetKey(kd, t)
		if !ok {
			continue
		}
		e, found := w[kd.kind][key]
		if !found {
			continue
		}
		l := &Live{Kind: kd.kind, Key: kd.entryKey(e), Attrs: kd.have(e)}
		if kd.kind == KindHost {
			kt, ok := e.boolean("has_keytab")
			l.HasKeytab = kt || (!ok && len(e.strs("krblastpwdchange")) > 0)
			l.IPAServer = slices.Contains(e.strs("memberof_hostgroup"), "ipaservers")
		}
		out[t.ID] = l
	}
	return out, nil
}

// findAnswer is the output of *_find.
type findAnswer struct {
	Count     int     `json:"count"`
	Result    []entry `json:"result"`
	Truncated bool    `json:"truncated"`
}

// find runs the *_find calls, at most Parallelism at once.
func (b *Backend) find(ctx context.Context, full, refsOnly map[string]bool) (world, error) {
	var kinds []string
	for k := range full {
		kinds = append(kinds, k)
	}
	for k := range refsOnly {
		if !full[k] {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	w := world{}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs = make([]error, len(kinds))
		sem  = make(chan struct{}, b.parallelism())
	)
	for i, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			kd := kindDefs[k]
			// docs/api-facts.md §3: without sizelimit the server's search limit
			// (100 by default) truncates; 0 is unlimited.
			opts := map[string]any{"all": true, "sizelimit": 0}
			if !full[k] {
				opts = map[string]any{"pkey_only": true, "sizelimit": 0}
			}
			res, err := b.call(ctx, kd.obj+"_find", nil, opts)
			if err != nil {
				errs[i] = err
				return
			}
			var a findAnswer
			if err := json.Unmarshal(res, &a); err != nil {
				errs[i] = fmt.Errorf("%s_find: decode answer: %w", kd.obj, err)
				return
			}
			if a.Truncated {
				errs[i] = fmt.Errorf("%s_find: the server truncated the answer at %d entries: raise the search size limit for user %s", kd.obj, a.Count, b.cfg.User)
				return
			}
			m := make(map[string]entry, len(a.Result))
			for _, e := range a.Result {
				m[normKey(k, kd.entryKey(e))] = e
			}
			mu.Lock()
			w[k] = m
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return w, nil
}

// checkTargets finds bad input that only the live world reveals: two
// resources declaring one object, and members that neither exist nor are
// declared.
func checkTargets(targets []steps.Target, w world) error {
	declared := map[string]map[string]steps.ID{}
	var problems []string
	for _, t := range targets {
		if t.Want == nil {
			continue
		}
		kd := kindDefs[t.ID.Kind]
		key, _ := targetKey(kd, t)
		if declared[kd.kind] == nil {
			declared[kd.kind] = map[string]steps.ID{}
		}
		if other, dup := declared[kd.kind][key]; dup {
			problems = append(problems, fmt.Sprintf("%s and %s both declare %s %s", other, t.ID, kd.obj, key))
		}
		declared[kd.kind][key] = t.ID
	}
	for _, t := range targets {
		if t.Want == nil {
			continue
		}
		kd := kindDefs[t.ID.Kind]
		want := kd.want(t.Want)
		for _, m := range kd.members {
			if m.ref == "" {
				continue
			}
			refKind := "freeipa." + m.ref
			l, _ := want[m.field].([]string)
			for _, name := range l {
				key := normKey(refKind, name)
				if _, ok := w[refKind][key]; ok {
					continue
				}
				if _, ok := declared[refKind][key]; ok {
					continue
				}
				problems = append(problems, fmt.Sprintf("%s: %s %q in %s does not exist in FreeIPA and is not declared (declare %s/%s or fix the name)",
					t.ID, m.what, name, m.field, refKind, name))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// entry is one object as *_find/_show return it: attributes as lists
// (docs/api-facts.md §3), some as plain values.
type entry map[string]any

func (e entry) strs(attr string) []string {
	var out []string
	switch v := e[attr].(type) {
	case []any:
		for _, x := range v {
			switch s := x.(type) {
			case string:
				out = append(out, s)
			case map[string]any:
				// {"__datetime__": ...} and friends (ipalib/rpc.py json_encode)
				for _, y := range s {
					out = append(out, fmt.Sprint(y))
				}
			default:
				out = append(out, fmt.Sprint(s))
			}
		}
	case string:
		out = []string{v}
	case nil:
	default:
		out = []string{fmt.Sprint(v)}
	}
	return out
}

func (e entry) str(attr string) string {
	if l := e.strs(attr); len(l) > 0 {
		return l[0]
	}
	return ""
}

func (e entry) boolean(attr string) (bool, bool) {
	switch v := e[attr].(type) {
	case bool:
		return v, true
	case []any:
		if len(v) > 0 {
			switch x := v[0].(type) {
			case bool:
				return x, true
			case string:
				return strings.EqualFold(x, "TRUE"), true
			}
		}
	case string:
		return strings.EqualFold(v, "TRUE"), true
	}
	return false, false
}
