package proxmox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	goprox "github.com/luthermonson/go-proxmox"

	"github.com/gitops-runner/gitops-runner/steps"
)

// nextIDAttempts bounds the retries of a create whose VMID from
// /cluster/nextid was taken meanwhile (nextid and create are not atomic,
// docs/api-facts.md §1).
const nextIDAttempts = 8

// Apply implements steps.Backend.
func (b *Backend) Apply(ctx context.Context, c steps.Change, p steps.Progress) (json.RawMessage, error) {
	if b.client == nil {
		return nil, errNotConfigured
	}
	b.warnInsecure(p)
	o, _ := c.Detail.(*ops)
	if o == nil && c.Action != steps.NoOp {
		return nil, fmt.Errorf("apply %s: the change has no Proxmox plan (was it computed by this backend's Diff?)", c.ID)
	}
	if o != nil && o.VMID != 0 && (c.Action == steps.Update || c.Action == steps.Replace || c.Action == steps.Delete) {
		b.kept.forget(o.VMID) // the guest changes: its next Observe reads it live
	}
	var ref guestRef
	var err error
	switch c.Action {
	case steps.NoOp:
		return nil, nil
	case steps.Create:
		ref, err = b.create(ctx, c, o, p)
	case steps.Update:
		ref = guestRef{VMID: o.VMID, Node: o.Node}
		err = b.update(ctx, o, p)
	case steps.Replace:
		if err = b.destroy(ctx, o, p); err == nil {
			want := wantCommon(c.Target.Want)
			co := &ops{Type: o.Type, VMID: want.VMID, Node: want.Node}
			if co.VMID == 0 && want.Node == o.Node {
				co.VMID = o.VMID // keep the ID (and what refers to it)
			}
			if vm, ok := c.Target.Want.(*VMSpec); ok {
				tpl, terr := findTemplate(vm.Clone.Template, b.facts())
				if terr != nil {
					return nil, terr
				}
				co.TemplateVMID, co.TemplateNode = tpl.vmid, tpl.node
			}
			ref, err = b.create(ctx, c, co, p)
		}
	case steps.Delete:
		err = b.destroy(ctx, o, p)
		if err == nil {
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("apply %s: unknown action %s", c.ID, c.Action)
	}
	if err != nil {
		return nil, classify(fmt.Errorf("%s %s: %w", c.Action, c.ID, err))
	}
	state, err := json.Marshal(ref)
	return state, err
}

func guestPath(typ, node string, vmid int) string {
	return fmt.Sprintf("/nodes/%s/%s/%d", url.PathEscape(node), typ, vmid)
}

func typeWord(typ string) string {
	if typ == "lxc" {
		return "CT"
	}
	return "VM"
}

// create makes the guest, configures it and brings it to its power state.
// A retry of a create that got as far as making the guest (the executor
// retries transient errors) converges that guest instead of making another.
func (b *Backend) create(ctx context.Context, c steps.Change, o *ops, p steps.Progress) (guestRef, error) {
	b.mu.Lock()
	ref, done := b.created[c.ID]
	b.mu.Unlock()
	if !done {
		var err error
		ref, err = b.make(ctx, c, o, p)
		if err != nil {
			return ref, err
		}
		b.mu.Lock()
		b.created[c.ID] = ref
		b.mu.Unlock()
	}
	if _, lxc := c.Target.Want.(*LXCSpec); lxc && !done {
		// A container is created with its whole config; only the power
		// state is left.
		if wantCommon(c.Target.Want).State == "running" {
			if err := b.update(ctx, &ops{Type: "lxc", VMID: ref.VMID, Node: ref.Node, Power: "start"}, p); err != nil {
				return ref, err
			}
		}
	} else if err := b.converge(ctx, c, ref, p); err != nil {
		return ref, err
	}
	b.mu.Lock()
	delete(b.created, c.ID)
	b.mu.Unlock()
	return ref, nil
}

// make creates the guest (LXC from its template, VM by clone), allocating a
// VMID when the spec has none.
func (b *Backend) make(ctx context.Context, c steps.Change, o *ops, p steps.Progress) (guestRef, error) {
	want := wantCommon(c.Target.Want)
	for attempt := 1; ; attempt++ {
		vmid := o.VMID
		if vmid == 0 {
			var id string
			if err := b.get(ctx, "/cluster/nextid", &id); err != nil {
				return guestRef{}, fmt.Errorf("allocate a VMID: %w", err)
			}
			n, err := strconv.Atoi(strings.TrimSpace(id))
			if err != nil {
				return guestRef{}, fmt.Errorf("allocate a VMID: /cluster/nextid answered %q", id)
			}
			vmid = n
		}
		var err error
		switch s := c.Target.Want.(type) {
		case *LXCSpec:
			err = b.task(ctx, p, fmt.Sprintf("create CT %d on %s", vmid, want.Node), func() (goprox.UPID, error) {
				return b.post(ctx, fmt.Sprintf("/nodes/%s/lxc", url.PathEscape(want.Node)), lxcCreateParams(c.ID.Name, s, vmid))
			})
		case *VMSpec:
			params := map[string]any{"newid": vmid, "name": c.ID.Name, "full": boolStr(*s.Clone.Full)}
			if s.Clone.Storage != "" {
				params["storage"] = s.Clone.Storage
			}
			if o.TemplateNode != "" && o.TemplateNode != want.Node {
				params["target"] = want.Node
			}
			if want.Pool != "" {
				params["pool"] = want.Pool
			}
			srcNode := o.TemplateNode
			if srcNode == "" {
				srcNode = want.Node
			}
			err = b.task(ctx, p, fmt.Sprintf("clone %d → %d", o.TemplateVMID, vmid), func() (goprox.UPID, error) {
				return b.post(ctx, guestPath("qemu", srcNode, o.TemplateVMID)+"/clone", params)
			})
		}
		if err == nil {
			return guestRef{VMID: vmid, Node: want.Node}, nil
		}
		if o.VMID != 0 || attempt >= nextIDAttempts || !errors.Is(err, ErrVMIDTaken) {
			return guestRef{}, err
		}
		progressf(p, "VMID %d was taken meanwhile; allocating another", vmid)
	}
}

func lxcCreateParams(name string, s *LXCSpec, vmid int) map[string]any {
	p := map[string]any{
		"vmid":         vmid,
		"ostemplate":   s.OSTemplate,
		"hostname":     orName(s.Hostname, name),
		"cores":        s.Cores,
		"memory":       s.Memory.MiB,
		"swap":         s.Swap.MiB,
		"rootfs":       fmt.Sprintf("%s:%d", s.RootFS.Storage, s.RootFS.Size.MiB/1024),
		"unprivileged": boolStr(*s.Unprivileged),
		"onboot":       boolStr(s.OnBoot),
		"tags":         joinTags(s.Tags),
	}
	for i, n := range s.Networks {
		p["net"+strconv.Itoa(i)] = netString(KindLXC, n, n.MAC)
	}
	for i, m := range s.Mounts {
		p["mp"+strconv.Itoa(i)] = mountString(m)
	}
	if f := featuresString(s.Features); f != "" {
		p["features"] = f
	}
	if st := formatStartup(s.Startup); st != "" {
		p["startup"] = st
	}
	if s.Description != "" {
		p["description"] = s.Description
	}
	if s.Pool != "" {
		p["pool"] = s.Pool
	}
	if len(s.SSHPublicKeys) > 0 {
		p["ssh-public-keys"] = strings.Join(s.SSHPublicKeys, "\n")
	}
	if s.Nameserver != "" {
		p["nameserver"] = s.Nameserver
	}
	if s.Searchdomain != "" {
		p["searchdomain"] = s.Searchdomain
	}
	return p
}

// converge reads a guest just created and applies what the create left out
// (for a clone: the whole config, disks and power state).
func (b *Backend) converge(ctx context.Context, c steps.Change, ref guestRef, p steps.Progress) error {
	typ := pveType(c.ID.Kind)
	conf, current, pending, err := b.readPending(ctx, ref.Node, typ, ref.VMID)
	if err != nil {
		return err
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := b.get(ctx, guestPath(typ, ref.Node, ref.VMID)+"/status/current", &st); err != nil {
		return err
	}
	tags := splitTags(conf["tags"])
	l := &Live{Type: typ, VMID: ref.VMID, Node: ref.Node, Name: c.ID.Name, Status: st.Status, Tags: tags, Config: conf, Current: current, Pending: pending}
	if want := wantCommon(c.Target.Want); want.Pool != "" {
		l.Pool = want.Pool // set by the create or clone call
	}
	// The create-only fields come from the wanted spec: they were used.
	t := steps.Target{ID: c.ID, Want: c.Target.Want, Last: c.Target.Want}
	before, after := liveView(t, l), wantView(t)
	if err := checkShrink(before, after); err != nil {
		return err
	}
	o, err := updateOps(t, l, before, after)
	if err != nil {
		return err
	}
	return b.update(ctx, o, p)
}

// update applies config keys, resizes and the power action.
func (b *Backend) update(ctx context.Context, o *ops, p steps.Progress) error {
	path := guestPath(o.Type, o.Node, o.VMID)
	if len(o.Set) > 0 || len(o.Delete) > 0 {
		params := map[string]any{}
		keys := make([]string, 0, len(o.Set))
		for k, v := range o.Set {
			params[k] = v
			keys = append(keys, k)
		}
		if len(o.Delete) > 0 {
			params["delete"] = strings.Join(o.Delete, ",")
			keys = append(keys, "-"+strings.Join(o.Delete, ",-"))
		}
		sort.Strings(keys)
		// PUT is synchronous for both kinds (LXC has no async config
		// POST; docs/api-facts.md §1), so no task to wait for.
		if err := b.put(ctx, path+"/config", params); err != nil {
			return fmt.Errorf("update config: %w", err)
		}
		progressf(p, "config %s %d: %s", typeWord(o.Type), o.VMID, strings.Join(keys, ", "))
	}
	disks := slices.Sorted(maps.Keys(o.Resize))
	for _, d := range disks {
		size := fmt.Sprintf("%dG", o.Resize[d]/1024)
		if err := b.task(ctx, p, fmt.Sprintf("resize %s %d %s to %s", typeWord(o.Type), o.VMID, d, size), func() (goprox.UPID, error) {
			return b.putTask(ctx, path+"/resize", map[string]any{"disk": d, "size": size})
		}); err != nil {
			return err
		}
	}
	switch o.Power {
	case "start":
		return b.task(ctx, p, fmt.Sprintf("start %s %d", typeWord(o.Type), o.VMID), func() (goprox.UPID, error) {
			return b.post(ctx, path+"/status/start", nil)
		})
	case "shutdown":
		return b.shutdown(ctx, o, p)
	}
	return nil
}

// shutdown asks the guest to shut down within shutdownTimeout, then stops
// it hard if it did not.
func (b *Backend) shutdown(ctx context.Context, o *ops, p steps.Progress) error {
	path := guestPath(o.Type, o.Node, o.VMID)
	secs := int(time.Duration(b.cfg.ShutdownTimeout) / time.Second)
	err := b.task(ctx, p, fmt.Sprintf("shutdown %s %d", typeWord(o.Type), o.VMID), func() (goprox.UPID, error) {
		return b.post(ctx, path+"/status/shutdown", map[string]any{"timeout": max(secs, 1), "forceStop": 0})
	})
	if err == nil {
		return nil
	}
	var te *taskError
	if !errors.As(err, &te) {
		return err
	}
	progressf(p, "graceful shutdown failed (%s); stopping", te.exit)
	return b.task(ctx, p, fmt.Sprintf("stop %s %d", typeWord(o.Type), o.VMID), func() (goprox.UPID, error) {
		return b.post(ctx, path+"/status/stop", nil)
	})
}

// destroy stops the guest if it runs and deletes it with its disks.
func (b *Backend) destroy(ctx context.Context, o *ops, p steps.Progress) error {
	path := guestPath(o.Type, o.Node, o.VMID)
	var st struct {
		Status string `json:"status"`
	}
	if err := b.get(ctx, path+"/status/current", &st); err != nil {
		if errors.Is(err, ErrGuestNotFound) {
			progressf(p, "%s %d is already gone", typeWord(o.Type), o.VMID)
			return nil
		}
		return err
	}
	if st.Status == "running" {
		if err := b.task(ctx, p, fmt.Sprintf("stop %s %d", typeWord(o.Type), o.VMID), func() (goprox.UPID, error) {
			return b.post(ctx, path+"/status/stop", nil)
		}); err != nil {
			return err
		}
	}
	return b.task(ctx, p, fmt.Sprintf("delete %s %d", typeWord(o.Type), o.VMID), func() (goprox.UPID, error) {
		return b.del(ctx, path, map[string]any{"purge": 1, "destroy-unreferenced-disks": 1})
	})
}
