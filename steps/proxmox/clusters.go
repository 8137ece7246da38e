package proxmox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Clusters is the proxmox backend the runner registers: one Backend (an
// engine) per configured Proxmox cluster, each built by New from its own
// config section, and a router that sends every target and change to the
// engine of its guest's cluster. Proxmox VMIDs, node names, templates and
// capacity are per cluster: VMID 100 on one cluster and VMID 100 on another
// are two guests (pve-cluster allocates VMIDs within one cluster only).
//
// The config section has two forms:
//
//   - the single-host form: the fields of Config at the top level; guests
//     name no cluster, and everything behaves as one Backend;
//   - the clusters form: {"clusters": {"hetzner": {<Config>}, "flat1":
//     {<Config>}}}; a guest names its cluster in spec.cluster, which may be
//     left out only when one cluster is configured.
//
// Giving both forms at once is an error. It is safe for concurrent use.
type Clusters struct {
	// names are the configured clusters, sorted; nil for the single-host
	// form (whose engine is engines[""]).
	names   []string
	engines map[string]*Backend
}

// singleHost is the engines key of the single-host form.
const singleHost = ""

// NewClusters builds the backend from the backends.proxmox section (raw
// nil: not configured, see New). Errors name the field, under
// "clusters.NAME." in the clusters form.
func NewClusters(raw json.RawMessage, red *steps.Redactor) (*Clusters, error) {
	c := &Clusters{engines: map[string]*Backend{}}
	var top map[string]json.RawMessage
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && string(trimmed) != "null" {
		if err := json.Unmarshal(trimmed, &top); err != nil {
			return nil, fmt.Errorf("want an object: %w", err)
		}
	}
	section, ok := top["clusters"]
	if !ok {
		b, err := New(raw, red)
		if err != nil {
			return nil, err
		}
		c.engines[singleHost] = b
		return c, nil
	}
	others := slices.Sorted(maps.Keys(top))
	others = slices.DeleteFunc(others, func(k string) bool { return k == "clusters" })
	if len(others) > 0 {
		return nil, fmt.Errorf("field clusters: give either clusters or the single-host fields at the top level, not both (found %s next to clusters: move them into a cluster)", strings.Join(others, ", "))
	}
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(section, &sections); err != nil {
		return nil, fmt.Errorf("field clusters: want an object of clusters by name, e.g. {\"hetzner\": {\"url\": …}}: %w", err)
	}
	if len(sections) == 0 {
		return nil, errors.New("field clusters: is empty: name at least one cluster, or use the single-host form")
	}
	c.names = slices.Sorted(maps.Keys(sections))
	for _, name := range c.names {
		if !clusterRE.MatchString(name) {
			return nil, fmt.Errorf("field clusters.%s: %q is not a cluster name (letters, digits, - and _)", name, name)
		}
		if s := bytes.TrimSpace(sections[name]); len(s) == 0 || string(s) == "null" {
			return nil, fmt.Errorf("field clusters.%s: is empty: give the cluster's url, tokenId and tokenSecret", name)
		}
		b, err := New(sections[name], red)
		if err != nil {
			return nil, fmt.Errorf("clusters.%s: %w", name, err)
		}
		b.section, b.clusterName = "backends.proxmox.clusters."+name, name
		c.engines[name] = b
	}
	return c, nil
}

// Name implements steps.Backend.
func (c *Clusters) Name() string { return "proxmox" }

// Kinds implements steps.Backend.
func (c *Clusters) Kinds() []string { return []string{KindLXC, KindVM} }

// Rank implements steps.Ranker (see Backend.Rank).
func (c *Clusters) Rank(kind string) int { return c.any().Rank(kind) }

// Configured reports whether the backend has an API endpoint.
func (c *Clusters) Configured() bool { return c.any().Configured() }

// Names lists the configured clusters, sorted; nil for the single-host
// form.
func (c *Clusters) Names() []string { return slices.Clone(c.names) }

// Cluster is the engine of the named cluster ("" for the single-host form),
// or nil.
func (c *Clusters) Cluster(name string) *Backend { return c.engines[name] }

// any is an engine for what does not depend on the cluster.
func (c *Clusters) any() *Backend {
	if len(c.names) == 0 {
		return c.engines[singleHost]
	}
	return c.engines[c.names[0]]
}

// Decode implements steps.Backend: the spec as Backend.Decode reads it, and
// its cluster checked against the config. With one cluster configured a
// spec without a cluster is given that one; with several it must name one.
// A backend without a config accepts any cluster name (runner check).
func (c *Clusters) Decode(kind string, raw json.RawMessage) (steps.Spec, error) {
	s, err := decodeSpec(kind, raw)
	if err != nil {
		return s, err
	}
	com := wantCommon(s)
	switch {
	case len(c.names) == 0 && com.Cluster != "" && c.any().Configured():
		return nil, steps.FieldErrorf("cluster", "is %q, but backends.proxmox names no clusters (single-host form): leave cluster out, or configure backends.proxmox.clusters", com.Cluster)
	case len(c.names) == 0:
	case com.Cluster == "" && len(c.names) == 1:
		com.Cluster = c.names[0]
	case com.Cluster == "":
		return nil, steps.FieldErrorf("cluster", "is required: backends.proxmox has %d clusters (%s); say which one the guest runs on", len(c.names), strings.Join(c.names, ", "))
	case c.engines[com.Cluster] == nil:
		return nil, steps.FieldErrorf("cluster", "%q is not a configured cluster (backends.proxmox.clusters has %s)", com.Cluster, strings.Join(c.names, ", "))
	}
	return s, nil
}

// DecodeLast implements steps.LastDecoder: a spec of the inventory as it
// was applied, its shape checked as Decode does, its cluster not checked
// against the config. A spec applied under the single-host form names no
// cluster, and one applied on a cluster since removed from the config names
// that cluster: Diff says per guest what that means (Clusters.Diff).
func (c *Clusters) DecodeLast(kind string, raw json.RawMessage) (steps.Spec, error) {
	return decodeSpec(kind, raw)
}

// stateCluster is the cluster the runner recorded with a guest's state.
type stateCluster struct {
	Cluster string `json:"cluster"`
}

// recordedCluster is the cluster the runner's record of a target names:
// that of its state record, else of its last applied spec; "" when the
// record names none (the guest was applied under the single-host form) or
// there is no record.
func recordedCluster(t steps.Target) string {
	var st stateCluster
	if len(t.State) > 0 && json.Unmarshal(t.State, &st) == nil && st.Cluster != "" {
		return st.Cluster
	}
	if com := wantCommon(t.Last); com != nil {
		return com.Cluster
	}
	return ""
}

// lastCluster is the cluster of a target's live guest as the runner last
// applied it: the one its record names, else the only cluster; "" when
// unknown (a record from the single-host form, with several clusters
// configured).
func (c *Clusters) lastCluster(t steps.Target) string {
	if name := recordedCluster(t); name != "" {
		return name
	}
	if len(c.names) == 1 {
		return c.names[0]
	}
	return ""
}

// clusterOf is the cluster a target is observed, diffed and applied on: the
// one its wanted spec names, else the one it was last applied on.
func (c *Clusters) clusterOf(t steps.Target) (string, error) {
	if len(c.names) == 0 {
		return singleHost, nil
	}
	name := ""
	if com := wantCommon(t.Want); com != nil {
		name = com.Cluster
	}
	if name == "" {
		name = c.lastCluster(t)
	}
	if name == "" {
		return "", &unplaced{why: fmt.Sprintf("the runner applied it under the single-host form of backends.proxmox (its record names no cluster), and backends.proxmox has %d clusters (%s), so the runner does not know where to delete it: "+
			"put it back in the repo with the cluster it runs on (cluster: '…'), push, then remove it", len(c.names), strings.Join(c.names, ", "))}
	}
	if c.engines[name] == nil {
		return "", &unplaced{why: fmt.Sprintf("it runs on cluster %s, which is no longer in backends.proxmox.clusters (%s), so the runner cannot reach it to delete it: "+
			"put cluster %s back into backends.proxmox.clusters and the next run deletes it (the protected-guests policy judges the delete); "+
			"or, if the guest is gone or is to stay as it is, unmanaged, remove %s from inventory.json on the status branch by hand, in the repository on the runner's host (the status branch takes no pushes)", name, strings.Join(c.names, ", "), name, t.ID)}
	}
	return name, nil
}

// unplaced is a target's guest whose cluster the runner cannot reach: its
// record names a cluster no longer configured, or none while several are.
// Observe gives it as the target's live state (not as "absent", which
// would plan "already gone" and drop the record), and Diff plans its delete
// blocked, so one such guest does not stop the rest of the run and stays
// owned (and protected) until the operator acts.
type unplaced struct{ why string }

func (u *unplaced) Error() string { return u.why }

// where prefixes an engine's message with its cluster (clusters form only).
func (c *Clusters) where(name string) string {
	if name == singleHost {
		return ""
	}
	return "cluster " + name + ": "
}

// Observe implements steps.Backend: the targets split by cluster, and every
// configured cluster observed at once, each by its engine (so each
// cluster's nodes are known to policies even without targets on it).
// Calls: Backend.Observe's, per cluster, each on that cluster's API.
func (c *Clusters) Observe(ctx context.Context, targets []steps.Target) (map[steps.ID]steps.Live, error) {
	by := map[string][]steps.Target{}
	for name := range c.engines {
		by[name] = nil
	}
	out := make(map[steps.ID]steps.Live, len(targets))
	for _, t := range targets {
		name, err := c.clusterOf(t)
		var u *unplaced
		if errors.As(err, &u) {
			out[t.ID] = u
			continue
		}
		by[name] = append(by[name], t)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[string]error{}
	for name, ts := range by {
		wg.Go(func() {
			live, err := c.engines[name].Observe(c.clusterCtx(ctx, name), ts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[name] = err
				return
			}
			maps.Copy(out, live)
		})
	}
	wg.Wait()
	// Every failing cluster, in name order: the same failure gives the
	// same error on every run (an operator is mailed once per distinct
	// failure, and a whichever-came-first error changed between runs).
	var failed []error
	for _, name := range slices.Sorted(maps.Keys(errs)) {
		if name == singleHost {
			return nil, errs[name] // the single-host form's error as it always was
		}
		failed = append(failed, fmt.Errorf("%s%w", c.where(name), errs[name]))
	}
	if len(failed) > 0 {
		return nil, errors.Join(failed...)
	}
	return out, nil
}

// clusterCtx gives a named cluster's engine a store of kept reads of its
// own (steps.ObserveOptions.Dir/cluster-<name>): VMIDs are per cluster, so
// one store for several clusters would mix their guests.
func (c *Clusters) clusterCtx(ctx context.Context, name string) context.Context {
	o := steps.ObserveOptionsFrom(ctx)
	if name == singleHost || o.Dir == "" {
		return ctx
	}
	o.Dir = filepath.Join(o.Dir, "cluster-"+name)
	return steps.WithObserveOptions(ctx, o)
}

// Diff implements steps.Backend: the engine of the target's cluster diffs
// it. A guest whose cluster changed is refused: Proxmox cannot move a guest
// between clusters (migration is within one cluster), so the move would
// destroy the guest with its disks on one cluster and make an empty one on
// the other; the message says how to do that on purpose.
//
// A guest the runner applied under the single-host form (its record names
// no cluster) is taken to be on the cluster the repo now names only if that
// cluster has it: a guest with the VMID the runner recorded and the name it
// last applied. Then the single host was that cluster, the change is
// whatever else changed, and the record gets the cluster; otherwise the
// change is refused, since the guest would be made anew there and its old
// self left running unowned. A guest left the repo whose cluster the runner
// cannot reach (unplaced) gets its delete planned blocked, with what to do.
func (c *Clusters) Diff(t steps.Target, have steps.Live) (steps.Change, error) {
	ch := steps.Change{ID: t.ID, Target: t, Have: have}
	if u, ok := have.(*unplaced); ok {
		if t.Want != nil {
			return ch, u
		}
		// The last applied spec stands for the guest: policies judge the
		// delete by its protect.
		ch.Action, ch.Before, ch.Blocked = steps.Delete, t.Last, u.why
		ch.Fields = steps.DiffFields(t.Last, nil)
		return ch, nil
	}
	name, err := c.clusterOf(t)
	if err != nil {
		return ch, err
	}
	if name != singleHost && t.Want != nil {
		if was := c.lastCluster(t); was != "" && was != name {
			return ch, steps.FieldErrorf("cluster",
				"changed from %s to %s: Proxmox cannot move a guest between clusters, and the runner does not destroy it on %s to make an empty one on %s; "+
					"to do that on purpose, declare the guest under a new name on %s and remove the old resource (its delete is planned, and judged by the protect policy)",
				was, name, was, name, name)
		}
		if t.Last != nil && recordedCluster(t) == "" {
			if err := sameGuest(t, name, have); err != nil {
				return ch, err
			}
		}
	}
	return c.engines[name].Diff(t, have)
}

// sameGuest checks that the guest the runner applied under the single-host
// form is the one cluster name has: the VMID the runner recorded (state
// record, else last applied spec), with the name last applied (the LXC
// hostname, else the resource name).
func sameGuest(t steps.Target, name string, have steps.Live) error {
	vmid := stateRef(t.State).VMID
	if vmid == 0 {
		vmid = wantCommon(t.Last).VMID
	}
	was := guestName(steps.Target{ID: t.ID, Last: t.Last})
	l, _ := have.(*Live)
	if l != nil && (vmid == 0 || l.VMID == vmid) && l.Name == was {
		return nil
	}
	found := "no such guest"
	if l != nil {
		found = fmt.Sprintf("VMID %d there is named %s", l.VMID, l.Name)
	}
	return steps.FieldErrorf("cluster",
		"is %s, but the runner applied the guest under the single-host form of backends.proxmox (its record names no cluster) as VMID %d named %s, and cluster %s has %s: "+
			"set cluster to the cluster the single host became (the one with its url), keeping the guest's vmid and name for this push; "+
			"to make a new guest on %s instead, declare it under a new name and remove this one",
		name, vmid, was, name, found, name)
}

// Apply implements steps.Backend: the engine of the change's cluster
// applies it. In the clusters form the state record also names the
// cluster, so a later run finds the guest there, and an error names the
// cluster ("cluster flat1: …").
func (c *Clusters) Apply(ctx context.Context, ch steps.Change, p steps.Progress) (json.RawMessage, error) {
	name, err := c.clusterOf(ch.Target)
	if err != nil {
		return nil, err
	}
	st, err := c.engines[name].Apply(ctx, ch, p)
	if err != nil && name != singleHost {
		// "CT 101 already exists on node 'pve'": which cluster's pve.
		err = fmt.Errorf("%s%w", c.where(name), err)
	}
	if err != nil || name == singleHost || len(st) == 0 {
		return st, err
	}
	var rec map[string]any
	if json.Unmarshal(st, &rec) != nil {
		return st, nil
	}
	rec["cluster"] = name
	return json.Marshal(rec)
}

// Identities implements steps.Identifier: the engine's keys ("vmid:N"),
// prefixed by the cluster in the clusters form ("flat1/vmid:100"), since a
// VMID is unique within one cluster only.
func (c *Clusters) Identities(t steps.Target) []string {
	name, err := c.clusterOf(t)
	if err != nil {
		return nil // Observe reports the unknown cluster
	}
	ids := c.engines[name].Identities(t)
	if name == singleHost {
		return ids
	}
	for i := range ids {
		ids[i] = name + "/" + ids[i]
	}
	return ids
}

// LiveSummary implements steps.LiveSummarizer (policy input live.proxmox).
// The single-host form gives the engine's summary, {"nodes": {NODE: {cpus,
// memory (bytes), online}}}; the clusters form gives {"clusters": {NAME:
// {"nodes": …}}}, so nodes of two clusters with one name (each cluster's
// "pve") are never mixed.
func (c *Clusters) LiveSummary() any {
	if len(c.names) == 0 {
		return c.engines[singleHost].LiveSummary()
	}
	cl := map[string]any{}
	for _, name := range c.names {
		cl[name] = c.engines[name].LiveSummary()
	}
	return map[string]any{"clusters": cl}
}

// Warnings implements steps.Warner: each engine's, naming its cluster.
func (c *Clusters) Warnings() []string {
	var out []string
	for _, name := range c.order() {
		out = append(out, c.engines[name].Warnings()...)
	}
	return out
}

// order lists the engines' keys: the clusters sorted, or the single host.
func (c *Clusters) order() []string {
	if len(c.names) == 0 {
		return []string{singleHost}
	}
	return c.names
}

// Probe probes every cluster (Backend.Probe: GET /version each), for
// `runner doctor`. The call lists each cluster's answer; the first failure
// is the error, naming its cluster. date is the first server Date header
// that came back.
func (c *Clusters) Probe(ctx context.Context) (string, time.Time, error) {
	var calls []string
	var date time.Time
	for _, name := range c.order() {
		call, d, err := c.engines[name].Probe(ctx)
		if err != nil {
			return strings.Join(calls, "; "), date, fmt.Errorf("%s%w", c.where(name), err)
		}
		calls = append(calls, c.where(name)+call)
		if date.IsZero() {
			date = d
		}
	}
	return strings.Join(calls, "; "), date, nil
}

// The interfaces of package steps the backend implements.
var (
	_ steps.Backend        = (*Clusters)(nil)
	_ steps.Ranker         = (*Clusters)(nil)
	_ steps.Identifier     = (*Clusters)(nil)
	_ steps.LiveSummarizer = (*Clusters)(nil)
	_ steps.Warner         = (*Clusters)(nil)
	_ steps.Importer       = (*Clusters)(nil)
	_ steps.LastDecoder    = (*Clusters)(nil)
)

// Import implements steps.Importer: every cluster's guests (Backend.Import),
// one cluster after the other. With several clusters each spec names its
// cluster, and the listed places name it too. A guest whose name a guest of
// an earlier cluster (in name order) already took is listed as left alone:
// one resource name cannot be two guests.
func (c *Clusters) Import(ctx context.Context, where []string) (*steps.Imported, error) {
	if len(c.names) <= 1 {
		// One cluster: specs need not name it (Decode fills it in).
		im, err := c.any().Import(ctx, where)
		if err == nil && len(c.names) == 1 {
			for _, f := range im.Resources {
				wantCommon(f.Spec).Cluster = c.names[0]
			}
		}
		return im, err
	}
	var out *steps.Imported
	taken := map[steps.ID]string{}
	for _, name := range c.names {
		im, err := c.engines[name].importGuests(ctx, where, name)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		if out == nil {
			out = &steps.Imported{File: im.File, Header: im.Header}
		}
		for _, f := range im.Resources {
			if other, dup := taken[f.ID]; dup {
				out.Unmanaged = append(out.Unmanaged, steps.Unmanaged{Where: "cluster " + name + ": " + f.ID.String(),
					Why:  "cluster " + other + " has a guest of the same name, imported as " + f.ID.String(),
					Then: "left alone: rename one of the guests in Proxmox and import again"})
				continue
			}
			taken[f.ID] = name
			out.Resources = append(out.Resources, f)
		}
		for _, u := range im.Unmanaged {
			u.Where = "cluster " + name + ": " + u.Where
			out.Unmanaged = append(out.Unmanaged, u)
		}
		for _, u := range im.Confirm {
			u.Where = "cluster " + name + ": " + u.Where
			out.Confirm = append(out.Confirm, u)
		}
	}
	return out, nil
}
