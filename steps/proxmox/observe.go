package proxmox

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	goprox "github.com/luthermonson/go-proxmox"
	"golang.org/x/sync/errgroup"

	"github.com/gitops-runner/gitops-runner/steps"
)

// nodeFacts is one cluster node as /nodes reports it.
type nodeFacts struct {
	cpus   int
	memory uint64 // bytes
	online bool
}

// clusterFacts is what Observe learned about the cluster besides the
// targets: nodes, templates and which target wants which VMID. Diff reads it
// (it stays pure: the facts are an input, fixed for the run).
type clusterFacts struct {
	nodes map[string]nodeFacts
	// guests are all guests by VMID (templates included).
	guests map[int]goprox.ClusterResource
	// dupVMID maps a target to another target asking for the same VMID.
	dupVMID map[steps.ID]steps.ID
	// name is the cluster's name in the clusters config form, "" for the
	// single-host form: messages name the cluster when there are several.
	name string
}

// in names the cluster in a message: "cluster flat1", or "the cluster".
func (f *clusterFacts) in() string {
	if f.name == "" {
		return "the cluster"
	}
	return "cluster " + f.name
}

// node names a node in a message: "node pve of cluster flat1", or "node
// pve" (node names repeat across clusters: each has its "pve").
func (f *clusterFacts) node(n string) string {
	if f.name == "" {
		return "node " + n
	}
	return "node " + n + " of cluster " + f.name
}

// Live is the observed state of one guest.
type Live struct {
	// Type is "lxc" or "qemu".
	Type   string
	VMID   int
	Node   string
	Name   string
	Status string // "running", "stopped"
	Pool   string
	Tags   []string
	// Config is the config with pending changes applied (what the guest
	// will be after its next restart).
	Config map[string]string
	// Pending lists the keys with changes waiting for a restart.
	Pending []string
	// Current is the config as the guest runs now, without its pending
	// changes (each /pending item's value).
	Current map[string]string
	// Lock is the guest's config lock ("backup", "migrate", "snapshot", …;
	// "" when unlocked): the lock key of its config, else the lock field of
	// /cluster/resources (pve-apidata.json: "The guest's current config
	// lock"). While a guest is locked Proxmox refuses changes to it
	// (pve-guest-common AbstractConfig check_lock: "CT 120 is locked (backup)").
	Lock string
	// Kept is when Config, Current and Pending were read, when this run
	// took them from that earlier read instead of reading them (the
	// observation store, observed.go); zero when read live now.
	Kept time.Time
}

// KeptSince is when the guest's config was read, when it was not read
// live in this run (Live.Kept); zero when it was.
func (l *Live) KeptSince() time.Time { return l.Kept }

// clusterResource is an entry of /cluster/resources with the lock field,
// which go-proxmox's type leaves out.
type clusterResource struct {
	goprox.ClusterResource
	Lock string `json:"lock,omitempty"`
}

// guestRef is the state record kept in the inventory.
type guestRef struct {
	VMID int    `json:"vmid"`
	Node string `json:"node"`
}

func pveType(kind string) string {
	if kind == KindLXC {
		return "lxc"
	}
	return "qemu"
}

func stateRef(raw json.RawMessage) guestRef {
	var r guestRef
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r) // an unreadable record is as good as none
	}
	return r
}

// knownVMID is the VMID of a target's guest when it is known before apply:
// the wanted spec's vmid, else the one the runner recorded in the inventory
// (a VMID allocated at create), else the last applied spec's. Observe finds
// the guest by it; 0 means the guest is looked up by name.
func knownVMID(t steps.Target) int {
	if c := wantCommon(t.Want); c != nil && c.VMID != 0 {
		return c.VMID
	}
	if v := stateRef(t.State).VMID; v != 0 {
		return v
	}
	if c := wantCommon(t.Last); c != nil {
		return c.VMID
	}
	return 0
}

// Identities implements steps.Identifier: the key "vmid:N" of the guest the
// target manages (knownVMID), or none while the VMID is still to be
// allocated. VMIDs are unique across a cluster for containers and VMs
// together (pve-cluster Cluster.pm check_vmid_unused looks at every guest),
// so the key names neither kind nor node: a proxmox.lxc and a proxmox.vm
// asking for one VMID collide.
func (b *Backend) Identities(t steps.Target) []string {
	if v := knownVMID(t); v != 0 {
		return []string{"vmid:" + strconv.Itoa(v)}
	}
	return nil
}

func wantCommon(s steps.Spec) *Common {
	switch v := s.(type) {
	case *LXCSpec:
		return &v.Common
	case *VMSpec:
		return &v.Common
	}
	return nil
}

// Observe implements steps.Backend: one /cluster/resources, one /nodes and
// one pending-config read per existing target guest, at most Parallelism at
// a time, fewer once the server shows strain (limiter).
func (b *Backend) Observe(ctx context.Context, targets []steps.Target) (map[steps.ID]steps.Live, error) {
	if b.client == nil {
		return nil, errNotConfigured
	}
	var res []*clusterResource
	var nodes goprox.NodeStatuses
	// Both reads finish, and the first of them to fail, in this order, is
	// the error: the same failure (a wrong token) gives the same error on
	// every run, so the operator is mailed about it once (whichever call
	// failed first used to change from run to run).
	var resErr, nodesErr error
	var both sync.WaitGroup
	both.Go(func() { resErr = b.get(ctx, "/cluster/resources?type=vm", &res) })
	both.Go(func() { nodesErr = b.get(ctx, "/nodes", &nodes) })
	both.Wait()
	if err := cmp.Or(resErr, nodesErr); err != nil {
		return nil, err
	}
	facts := &clusterFacts{nodes: map[string]nodeFacts{}, guests: map[int]goprox.ClusterResource{}, dupVMID: map[steps.ID]steps.ID{}, name: b.clusterName}
	for _, n := range nodes {
		facts.nodes[n.Node] = nodeFacts{cpus: n.MaxCPU, memory: n.MaxMem, online: n.Status == "online"}
	}
	byName := map[string][]goprox.ClusterResource{}
	locks := map[int]string{}
	for _, r := range res {
		if r == nil || (r.Type != "lxc" && r.Type != "qemu") {
			continue
		}
		facts.guests[int(r.VMID)] = r.ClusterResource //nolint:gosec // VMIDs are below 1e9
		if r.Lock != "" {
			locks[int(r.VMID)] = r.Lock //nolint:gosec // VMIDs are below 1e9
		}
		if r.Template == 0 {
			byName[r.Type+"/"+r.Node+"/"+r.Name] = append(byName[r.Type+"/"+r.Node+"/"+r.Name], r.ClusterResource)
		}
	}

	// Which guest is each target? By the VMID asked for, else the one the
	// runner recorded, else by name on its node.
	found := map[steps.ID]goprox.ClusterResource{}
	wantVMID := map[int]steps.ID{}
	for _, t := range targets {
		if c := wantCommon(t.Want); c != nil && c.VMID != 0 {
			if o, dup := wantVMID[c.VMID]; dup {
				facts.dupVMID[t.ID], facts.dupVMID[o] = o, t.ID
			}
			wantVMID[c.VMID] = t.ID
		}
		if vmid := knownVMID(t); vmid != 0 {
			if r, ok := facts.guests[vmid]; ok {
				found[t.ID] = r
			}
			continue
		}
		node := ""
		if c := wantCommon(t.Want); c != nil {
			node = c.Node
		} else if c := wantCommon(t.Last); c != nil {
			node = c.Node
		}
		if ms := byName[pveType(t.ID.Kind)+"/"+node+"/"+guestName(t)]; len(ms) > 0 {
			found[t.ID] = ms[0]
		}
	}

	// One read per distinct guest, bounded, except for the guests a kept
	// read may stand for (reuse).
	opts := steps.ObserveOptionsFrom(ctx)
	var kept *observation
	if !opts.Full {
		kept = loadObserved(opts.Dir)
	}
	now := time.Now()
	byVMID := map[int][]steps.Target{}
	for _, t := range targets {
		if r, ok := found[t.ID]; ok {
			byVMID[int(r.VMID)] = append(byVMID[int(r.VMID)], t) //nolint:gosec // VMIDs are below 1e9
		}
	}
	vmids := map[int]*clusterResource{}
	for _, r := range res {
		if r == nil {
			continue
		}
		if _, ok := byVMID[int(r.VMID)]; ok { //nolint:gosec // VMIDs are below 1e9
			vmids[int(r.VMID)] = r //nolint:gosec // VMIDs are below 1e9
		}
	}
	results := make(map[int]*observedGuest, len(vmids))
	reused := map[int]bool{}
	var mu sync.Mutex
	lim := newLimiter(b.cfg.Parallelism)
	g, gctx := errgroup.WithContext(withLimiter(ctx, lim))
	g.SetLimit(b.cfg.Parallelism)
	for vmid, r := range vmids {
		if k := reuse(kept, r, byVMID[vmid], now); k != nil {
			results[vmid], reused[vmid] = k, true
			continue
		}
		g.Go(func() error {
			if !lim.acquire(gctx) {
				return context.Cause(gctx)
			}
			defer lim.release()
			conf, current, pending, err := b.readPending(gctx, r.Node, r.Type, vmid)
			if err != nil {
				if errors.Is(err, ErrGuestNotFound) {
					return nil // deleted since /cluster/resources: absent
				}
				return err
			}
			o := &observedGuest{At: now, Summary: summaryOf(r), Last: specDigest(byVMID[vmid][0].Last), Config: conf, Current: current, Pending: pending}
			mu.Lock()
			results[vmid] = o
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	b.mu.Lock()
	b.strain = ""
	if n, lowered := lim.now(); lowered {
		b.strain = fmt.Sprintf("the Proxmox API showed strain (503, 595/596 or timeouts) while observing: reads in flight were lowered from %d to %d", b.cfg.Parallelism, n)
	}
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	b.keep(opts.Dir, results)
	b.mu.Lock()
	b.cluster = facts
	// A new run starts from what is live: forget creates of earlier runs
	// (they only serve retries within a run).
	for _, t := range targets {
		delete(b.created, t.ID)
	}
	b.mu.Unlock()

	out := make(map[steps.ID]steps.Live, len(found))
	for id, r := range found {
		rr, ok := results[int(r.VMID)] //nolint:gosec // VMIDs are below 1e9
		if !ok {
			continue
		}
		var keptAt time.Time
		if reused[int(r.VMID)] { //nolint:gosec // VMIDs are below 1e9
			keptAt = rr.At
		}
		// The config's lock (read after /cluster/resources), else the one
		// /cluster/resources showed.
		lock := rr.Config["lock"]
		if _, inConf := rr.Config["lock"]; !inConf {
			lock = locks[int(r.VMID)] //nolint:gosec // VMIDs are below 1e9
		}
		out[id] = &Live{Type: r.Type, VMID: int(r.VMID), Node: r.Node, Name: r.Name, Status: r.Status, Pool: r.Pool, //nolint:gosec // VMIDs are below 1e9
			Tags: splitTags(r.Tags), Config: rr.Config, Current: rr.Current, Pending: rr.Pending, Lock: lock, Kept: keptAt}
	}
	return out, nil
}

// reuse is the kept read that may stand for the guest r of targets (nil:
// read it live). It may when one target manages the guest, the runner
// changes nothing of its spec (Want is the Last applied), the kept read
// was made under that same Last, less than observedMaxAge ago, and the
// guest's /cluster/resources summary is what it was then. A change that
// /cluster/resources does not show (a hand edit of cores on a VM, of a
// network) goes unseen until the next full read: the drift check's.
func reuse(kept *observation, r *clusterResource, ts []steps.Target, now time.Time) *observedGuest {
	if kept == nil || len(ts) != 1 || ts[0].Want == nil || ts[0].Last == nil {
		return nil
	}
	k := kept.Guests[int(r.VMID)] //nolint:gosec // VMIDs are below 1e9
	if k == nil || k.At.IsZero() || now.Sub(k.At) > observedMaxAge || now.Before(k.At) || k.Summary != summaryOf(r) {
		return nil
	}
	if last := specDigest(ts[0].Last); last == "" || last != k.Last || specDigest(ts[0].Want) != last {
		return nil
	}
	return k
}

// keep writes the store of this Observe's reads: the guests read live now
// and those whose kept read stood in (their At unchanged).
// Guests whose config holds a secret are not kept. A failure to write
// removes the store (the next push reads everything live); it does not
// fail the run.
func (b *Backend) keep(dir string, results map[int]*observedGuest) {
	if dir == "" {
		b.kept.set("", nil)
		return
	}
	o := &observation{Version: observedVersion, Guests: make(map[int]*observedGuest, len(results))}
	for vmid, g := range results {
		if keepable(g.Config, g.Current) {
			o.Guests[vmid] = g
		}
	}
	if err := saveObserved(dir, o); err != nil {
		_ = removeObserved(dir)
		o = nil
	}
	b.kept.set(dir, o)
}

// readPending reads a guest's config with its pending changes
// (GuestHelpers config_with_pending_array): one call gives both what is
// current and what waits for a restart. It returns the config with the
// pending changes applied, the current config without them, and the keys
// with a pending change.
func (b *Backend) readPending(ctx context.Context, node, typ string, vmid int) (conf, current map[string]string, pending []string, err error) {
	var items []struct {
		Key     string          `json:"key"`
		Value   json.RawMessage `json:"value"`
		Pending json.RawMessage `json:"pending"`
		Delete  int             `json:"delete"`
	}
	if err = b.get(ctx, fmt.Sprintf("/nodes/%s/%s/%d/pending", url.PathEscape(node), typ, vmid), &items); err != nil {
		return nil, nil, nil, err
	}
	conf, current = map[string]string{}, map[string]string{}
	for _, it := range items {
		if len(it.Value) > 0 {
			current[it.Key] = rawString(it.Value)
		}
		switch {
		case it.Delete != 0:
			pending = append(pending, it.Key)
		case len(it.Pending) > 0:
			conf[it.Key] = rawString(it.Pending)
			pending = append(pending, it.Key)
		case len(it.Value) > 0:
			conf[it.Key] = rawString(it.Value)
		}
	}
	sort.Strings(pending)
	return conf, current, pending, nil
}

// rawString renders a JSON scalar as PVE's config text (numbers as written).
func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if f, err := strconv.ParseFloat(n.String(), 64); err == nil && f == float64(int64(f)) {
			return strconv.FormatInt(int64(f), 10)
		}
		return n.String()
	}
	return strings.Trim(string(raw), `"`)
}

func splitTags(s string) []string {
	out := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == ' ' })
	sort.Strings(out)
	return out
}

// guestName is the Proxmox name of a target's guest: the LXC hostname if
// set, else the resource name.
func guestName(t steps.Target) string {
	spec := t.Want
	if spec == nil {
		spec = t.Last
	}
	if s, ok := spec.(*LXCSpec); ok && s.Hostname != "" {
		return s.Hostname
	}
	return t.ID.Name
}

// LiveSummary implements steps.LiveSummarizer: the nodes seen by the last
// Observe, with cpus and memory in bytes (policy input live.proxmox).
func (b *Backend) LiveSummary() any {
	b.mu.Lock()
	defer b.mu.Unlock()
	nodes := map[string]any{}
	if b.cluster != nil {
		for name, n := range b.cluster.nodes {
			nodes[name] = map[string]any{"cpus": n.cpus, "memory": n.memory, "online": n.online}
		}
	}
	return map[string]any{"nodes": nodes}
}

func (b *Backend) facts() *clusterFacts {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cluster
}
