package proxmox

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gitops-runner/gitops-runner/steps"
)

func liveCommon(l *Live, kind string, ref, want *Common) Common {
	c := Common{
		Node:        l.Node,
		Pool:        l.Pool,
		Tags:        userTags(l.Tags),
		Description: l.Config["description"],
		Cores:       atoi(l.Config["cores"]),
		Memory:      Size{MiB: int64(atoi(l.Config["memory"]))},
		OnBoot:      l.Config["onboot"] == "1",
		Startup:     parseStartup(l.Config["startup"]),
		State:       l.Status,
		Protect:     boolPtr(true),
	}
	if ref != nil && ref.VMID != 0 {
		c.VMID = l.VMID
	}
	if ref != nil {
		// Proxmox does not know which of the runner's clusters it is: the
		// guest was observed on the cluster its spec names (Clusters).
		c.Cluster = ref.Cluster
	}
	if want != nil {
		// The wanted spec's, when there is one: Clusters observed the
		// guest there (a last spec of the single-host form names none).
		c.Cluster = want.Cluster
	}
	for _, i := range indexed(l.Config, "net") {
		p := props(l.Config["net"+strconv.Itoa(i)], "")
		n := Network{Bridge: p["bridge"], VLAN: atoi(p["tag"]), Firewall: p["firewall"] == "1"}
		if kind == KindLXC {
			n.Name, n.IP, n.Gateway, n.MAC = p["name"], p["ip"], p["gw"], strings.ToUpper(p["hwaddr"])
		} else {
			for m := range vmModels {
				if mac, ok := p[m]; ok {
					n.Model, n.MAC = m, strings.ToUpper(mac)
				}
			}
			ip := props(l.Config["ipconfig"+strconv.Itoa(i)], "")
			n.IP, n.Gateway = ip["ip"], ip["gw"]
		}
		for len(c.Networks) < i {
			c.Networks = append(c.Networks, Network{}) // a gap: shows as a change
		}
		c.Networks = append(c.Networks, n)
	}
	return c
}

// maskCommon hides what the wanted spec leaves to Proxmox: an unset MAC or
// IP is "keep what is there".
func maskCommon(v *Common, want *Common) {
	for i := range v.Networks {
		if i >= len(want.Networks) {
			break
		}
		w := want.Networks[i]
		if w.MAC == "" {
			v.Networks[i].MAC = ""
		}
		if w.IP == "" && w.Gateway == "" {
			v.Networks[i].IP, v.Networks[i].Gateway = "", ""
		}
	}
	if want.VMID == 0 {
		v.VMID = 0
	}
}

// liveView renders a live guest in the shape of its kind's spec. Fields
// Proxmox does not keep (ostemplate, clone, SSH keys, protect) come from the
// last applied spec, else the wanted one, so they never show as changes of
// the live guest; protect comes only from the last applied spec (policies
// judge deletes by it).
func liveView(t steps.Target, l *Live) steps.Spec {
	ref := t.Last
	if ref == nil {
		ref = t.Want
	}
	switch t.ID.Kind {
	case KindLXC:
		r, _ := ref.(*LXCSpec)
		var rc *Common
		if r != nil {
			rc = &r.Common
		}
		s := &LXCSpec{Common: liveCommon(l, KindLXC, rc, wantCommon(t.Want))}
		s.Hostname = l.Config["hostname"]
		s.Unprivileged = boolPtr(l.Config["unprivileged"] == "1")
		f := props(l.Config["features"], "")
		s.Features = Features{Nesting: f["nesting"] == "1", Keyctl: f["keyctl"] == "1", Fuse: f["fuse"] == "1"}
		rp := props(l.Config["rootfs"], "volume")
		s.RootFS = Volume{Storage: storageOf(rp["volume"]), Size: Size{MiB: diskSizeMiB(rp["size"])}}
		for _, i := range indexed(l.Config, "mp") {
			mp := props(l.Config["mp"+strconv.Itoa(i)], "volume")
			for len(s.Mounts) < i {
				s.Mounts = append(s.Mounts, Mount{})
			}
			s.Mounts = append(s.Mounts, Mount{Path: mp["mp"], Storage: storageOf(mp["volume"]), Size: Size{MiB: diskSizeMiB(mp["size"])}, Backup: mp["backup"] == "1"})
		}
		sw := Size{MiB: int64(atoi(l.Config["swap"]))}
		s.Swap = &sw
		s.Nameserver, s.Searchdomain = l.Config["nameserver"], l.Config["searchdomain"]
		if r != nil {
			s.OSTemplate, s.SSHPublicKeys = r.OSTemplate, r.SSHPublicKeys
		}
		if last, ok := t.Last.(*LXCSpec); ok {
			s.Protect = last.Protect
		}
		if w, ok := t.Want.(*LXCSpec); ok {
			maskCommon(&s.Common, &w.Common)
		}
		return s
	default:
		r, _ := ref.(*VMSpec)
		var rc *Common
		if r != nil {
			rc = &r.Common
		}
		s := &VMSpec{Common: liveCommon(l, KindVM, rc, wantCommon(t.Want))}
		if r != nil {
			s.Clone = r.Clone
		}
		w, _ := t.Want.(*VMSpec)
		if w == nil || w.CloudInit != nil {
			ci := &CloudInit{User: l.Config["ciuser"], Nameserver: l.Config["nameserver"], Searchdomain: l.Config["searchdomain"]}
			if k, err := url.PathUnescape(l.Config["sshkeys"]); err == nil {
				for _, line := range strings.Split(k, "\n") {
					if strings.TrimSpace(line) != "" {
						ci.SSHKeys = append(ci.SSHKeys, strings.TrimSpace(line))
					}
				}
			}
			if ci.User != "" || ci.Nameserver != "" || ci.Searchdomain != "" || len(ci.SSHKeys) > 0 {
				s.CloudInit = ci
			}
		}
		if w != nil {
			for _, d := range w.Disks {
				v, ok := l.Config[d.Slot]
				if !ok {
					continue
				}
				dp := props(v, "volume")
				ld := Disk{Slot: d.Slot, Size: Size{MiB: diskSizeMiB(dp["size"])}}
				if d.Storage != "" {
					ld.Storage = storageOf(dp["volume"])
				}
				s.Disks = append(s.Disks, ld)
			}
			maskCommon(&s.Common, &w.Common)
		}
		if last, ok := t.Last.(*VMSpec); ok {
			s.Protect = last.Protect
		}
		return s
	}
}

func storageOf(volume string) string {
	st, _, _ := strings.Cut(volume, ":")
	return st
}

// wantView is the wanted spec as plans show it: the hostname filled in.
func wantView(t steps.Target) steps.Spec {
	switch w := t.Want.(type) {
	case *LXCSpec:
		v := *w
		if v.Hostname == "" {
			v.Hostname = t.ID.Name
		}
		return &v
	case *VMSpec:
		v := *w
		return &v
	}
	return nil
}

// effectOf classifies a changed field (its path) of a guest: "replace" when
// Proxmox cannot change it in place, "reboot" when a running guest takes it
// only at its next start (qemu-server/pve-container hotplug rules, as the
// simulator models them), "" when it applies live.
func effectOf(kind, path string, running bool) steps.Effect {
	top := path
	if i := strings.IndexAny(path, ".["); i >= 0 {
		top = path[:i]
	}
	switch top {
	case "node", "vmid", "pool", "ostemplate", "unprivileged", "clone":
		return steps.EffectReplace
	}
	if kind == KindLXC {
		if path == "rootfs.storage" || (strings.HasPrefix(path, "mounts[") && (strings.HasSuffix(path, ".storage") || strings.HasSuffix(path, ".path"))) {
			return steps.EffectReplace
		}
		if !running {
			return ""
		}
		switch top {
		case "features", "nameserver", "searchdomain":
			return steps.EffectReboot
		case "mounts":
			if strings.HasSuffix(path, ".backup") {
				return steps.EffectReboot
			}
		}
		return ""
	}
	if strings.HasPrefix(path, "disks[") && strings.HasSuffix(path, ".storage") {
		return steps.EffectReplace
	}
	if !running {
		return ""
	}
	switch {
	case top == "cores" || top == "memory":
		return steps.EffectReboot
	case top == "cloudInit", strings.HasSuffix(path, ".ip"), strings.HasSuffix(path, ".gateway"):
		// cloud-init reads its settings at boot
		return steps.EffectReboot
	}
	return ""
}

// ops is what Apply does for a change; Diff computes it (Change.Detail).
type ops struct {
	Type string // lxc | qemu
	VMID int
	Node string
	// Set and Delete are config keys for one PUT.
	Set    map[string]string
	Delete []string
	// Resize maps disk keys to new sizes (grow only).
	Resize map[string]int64
	// Power is "start", "shutdown" or "".
	Power string
	// Template is the VM template to clone (create).
	TemplateVMID int
	TemplateNode string
}

// writes reports whether an update calls Proxmox at all (a change of
// protect alone does not).
func (o *ops) writes() bool {
	return o != nil && (len(o.Set) > 0 || len(o.Delete) > 0 || len(o.Resize) > 0 || o.Power != "")
}

// Diff implements steps.Backend. It is pure: it reads only the target, the
// live guest and the cluster facts of the run's Observe.
func (b *Backend) Diff(t steps.Target, have steps.Live) (steps.Change, error) {
	c := steps.Change{ID: t.ID, Target: t, Have: have}
	facts := b.facts()
	l, _ := have.(*Live)
	if t.Want != nil && facts != nil {
		if o, dup := facts.dupVMID[t.ID]; dup {
			return c, steps.FieldErrorf("vmid", "%d is also asked for by %s; every guest needs its own VMID", wantCommon(t.Want).VMID, o)
		}
	}
	if l != nil && l.Type != pveType(t.ID.Kind) {
		return c, steps.FieldErrorf("vmid", "%d is a %s guest, not a %s", l.VMID, l.Type, pveType(t.ID.Kind))
	}
	switch {
	case t.Want == nil && l == nil:
		c.Action = steps.NoOp
		return c, nil
	case t.Want == nil:
		before := liveView(t, l)
		c.Action, c.Before = steps.Delete, before
		c.Fields = steps.DiffFields(before, nil)
		c.Detail = &ops{Type: l.Type, VMID: l.VMID, Node: l.Node}
		c.Blocked = lockBlocks(l, nil)
		return c, nil
	}
	after := wantView(t)
	c.After = after
	want := wantCommon(t.Want)
	if err := checkPlacement(t, want, facts); err != nil {
		return c, err
	}
	if l == nil {
		c.Action = steps.Create
		c.Fields = steps.DiffFields(nil, after)
		o := &ops{Type: pveType(t.ID.Kind), VMID: want.VMID, Node: want.Node}
		if vm, ok := t.Want.(*VMSpec); ok {
			tpl, err := findTemplate(vm.Clone.Template, facts)
			if err != nil {
				return c, err
			}
			o.TemplateVMID, o.TemplateNode = tpl.vmid, tpl.node
		}
		c.Detail = o
		return c, nil
	}
	before := liveView(t, l)
	c.Before = before
	c.Fields = steps.DiffFields(before, after)
	running := l.Status == "running"
	replace := false
	var reboot []string
	for i := range c.Fields {
		f := &c.Fields[i]
		if f.Path == "state" || f.Path == "protect" || strings.HasPrefix(f.Path, "sshPublicKeys") {
			continue
		}
		f.Effect = effectOf(t.ID.Kind, f.Path, running && want.State == "running")
		switch f.Effect {
		case steps.EffectReplace:
			replace = true
		case steps.EffectReboot:
			reboot = append(reboot, f.Path)
		}
	}
	switch {
	case replace:
		// A new guest: its disks are made anew, so size checks do not apply.
		c.Action = steps.Replace
		c.Detail = &ops{Type: l.Type, VMID: l.VMID, Node: l.Node}
	default:
		if err := checkShrink(before, after); err != nil {
			return c, err
		}
		o, err := updateOps(t, l, before, after)
		if err != nil {
			return c, err
		}
		c.Detail = o
		c.Action = steps.NoOp
		if len(c.Fields) > 0 {
			c.Action = steps.Update
		}
	}
	if o, _ := c.Detail.(*ops); c.Action == steps.Replace || (c.Action == steps.Update && o.writes()) {
		c.Blocked = lockBlocks(l, o)
	}
	stillPending := l.Pending
	if o, ok := c.Detail.(*ops); ok && c.Action == steps.Update && len(l.Pending) > 0 {
		var reverted []string
		reboot, reverted = revertsPending(t, l, after, c.Fields)
		var cancelled []string
		stillPending, cancelled = pendingAfter(l, o)
		if len(reverted) > 0 || len(cancelled) > 0 {
			c.Notes = append(c.Notes, "cancels Proxmox's pending change of "+strings.Join(orList(cancelled, reverted), ", ")+": back to the value the guest runs with, no restart needed")
		}
	}
	if len(reboot) > 0 && c.Action == steps.Update {
		c.Notes = append(c.Notes, "pending reboot: "+strings.Join(reboot, ", ")+" (takes effect at the next restart of the guest)")
	}
	if len(stillPending) > 0 {
		c.Notes = append(c.Notes, "pending reboot: Proxmox has pending changes of "+strings.Join(stillPending, ", ")+" (applied at the next restart)")
	}
	if ls, ok := t.Last.(*LXCSpec); ok {
		if ws, ok := t.Want.(*LXCSpec); ok && !reflect.DeepEqual(ls.SSHPublicKeys, ws.SSHPublicKeys) {
			c.Notes = append(c.Notes, "sshPublicKeys are installed only when a container is created; the running container keeps its keys")
		}
	}
	return c, nil
}

// lockBlocks says why a change of a locked guest cannot be applied now, or
// "" when the guest is not locked or the change passes the lock. Proxmox
// refuses to change, start, stop or destroy a guest whose config has a lock
// (pve-guest-common AbstractConfig check_lock: "CT 120 is locked (backup)"),
// except that a suspended (hibernated) VM may be started, which resumes it
// (qemu-server vm_start skips check_lock for lock "suspended"). Lock values:
// pve-apidata.json, lock of /nodes/{node}/qemu/{vmid}/config and
// /nodes/{node}/lxc/{vmid}/config. o is the change's ops.
func lockBlocks(l *Live, o *ops) string {
	if l == nil || l.Lock == "" {
		return ""
	}
	if l.Lock == "suspended" && o != nil && len(o.Set) == 0 && len(o.Delete) == 0 && len(o.Resize) == 0 && o.Power == "start" {
		return ""
	}
	what := map[string]string{
		"backup":          "try again after the backup",
		"clone":           "try again after the clone",
		"create":          "try again once its creation has finished",
		"destroyed":       "it is being destroyed",
		"disk":            "try again after the disk operation",
		"fstrim":          "try again after the fstrim",
		"migrate":         "try again after the migration",
		"mounted":         fmt.Sprintf("unmount it first (pct unmount %d)", l.VMID),
		"rollback":        "try again after the snapshot rollback",
		"snapshot":        "try again after the snapshot",
		"snapshot-delete": "try again after the snapshot is deleted",
		"suspending":      "try again after it is suspended, and resume it",
		"suspended":       "resume it first (start it), then try again",
	}[l.Lock]
	if what == "" {
		cmd := "qm"
		if l.Type == "lxc" {
			cmd = "pct"
		}
		what = fmt.Sprintf("try again when the lock is gone (if no task holds it any more: %s unlock %d)", cmd, l.VMID)
	}
	word := "VM"
	if l.Type == "lxc" {
		word = "CT"
	}
	return fmt.Sprintf("%s %d is locked (%s): %s", word, l.VMID, l.Lock, what)
}

// revertsPending finds the reboot fields of an update that set a value the
// running guest already has: the view of the live guest is its config with
// the pending changes applied, so going back to the running value shows as a
// change, but Proxmox then drops the pending change instead of adding one
// (pve-guest-common AbstractConfig cleanup_pending: a pending value equal to
// the current one is removed). Their effect is cleared; it returns the
// fields that still wait for a restart and the reverted ones.
func revertsPending(t steps.Target, l *Live, after steps.Spec, fields []steps.FieldChange) (reboot, reverted []string) {
	cur := *l
	cur.Config = l.Current
	differs := map[string]bool{}
	for _, f := range steps.DiffFields(liveView(t, &cur), after) {
		differs[f.Path] = true
	}
	for i := range fields {
		f := &fields[i]
		if f.Effect != steps.EffectReboot {
			continue
		}
		if differs[f.Path] {
			reboot = append(reboot, f.Path)
			continue
		}
		f.Effect = ""
		reverted = append(reverted, f.Path)
	}
	return reboot, reverted
}

// pendingAfter is what stays pending of l.Pending once the update's ops are
// written: a key set back to its current value, or deleted where it is not
// in the current config, is no longer pending (cleanup_pending). It also
// returns those cancelled keys.
func pendingAfter(l *Live, o *ops) (still, cancelled []string) {
	for _, k := range l.Pending {
		v, set := o.Set[k]
		cur, inCur := l.Current[k]
		switch {
		case set && inCur && v == cur, !set && slices.Contains(o.Delete, k) && !inCur:
			cancelled = append(cancelled, k)
		default:
			still = append(still, k)
		}
	}
	return still, cancelled
}

// orList is a if it is not empty, else b.
func orList(a, b []string) []string {
	if len(a) > 0 {
		return a
	}
	return b
}

type templateRef struct {
	vmid int
	node string
}

func findTemplate(ref TemplateRef, facts *clusterFacts) (templateRef, error) {
	if facts == nil {
		return templateRef{vmid: ref.VMID}, nil
	}
	var names []string
	for _, g := range facts.guests {
		if g.Type != "qemu" || g.Template == 0 {
			continue
		}
		if (ref.Name == "" && int(g.VMID) == ref.VMID) || (ref.Name != "" && g.Name == ref.Name) { //nolint:gosec // VMIDs are below 1e9
			return templateRef{vmid: int(g.VMID), node: g.Node}, nil //nolint:gosec // VMIDs are below 1e9
		}
		names = append(names, fmt.Sprintf("%d %s", g.VMID, g.Name))
	}
	sort.Strings(names)
	if len(names) == 0 {
		names = []string{"none"}
	}
	return templateRef{}, steps.FieldErrorf("clone.template", "no VM template %s in %s (templates: %s)", ref, facts.in(), strings.Join(names, ", "))
}

// checkPlacement checks the node and the memory against the cluster.
func checkPlacement(t steps.Target, want *Common, facts *clusterFacts) error {
	if facts == nil {
		return nil
	}
	n, ok := facts.nodes[want.Node]
	if !ok {
		names := slices.Sorted(maps.Keys(facts.nodes))
		return steps.FieldErrorf("node", "no node %q in %s (nodes: %s)", want.Node, facts.in(), strings.Join(names, ", "))
	}
	if !n.online {
		return steps.FieldErrorf("node", "%s is offline", facts.node(want.Node))
	}
	if n.memory > 0 && uint64(want.Memory.MiB)<<20 > n.memory { //nolint:gosec // validated positive
		return steps.FieldErrorf("memory", "%d MiB is more than %s has (%d MiB)", want.Memory.MiB, facts.node(want.Node), n.memory>>20)
	}
	if s, ok := t.Want.(*LXCSpec); ok && !dnsNameRE.MatchString(orName(s.Hostname, t.ID.Name)) {
		return steps.FieldErrorf("hostname", "the resource name %q is not a DNS name: set hostname", t.ID.Name)
	}
	if _, ok := t.Want.(*VMSpec); ok && !dnsNameRE.MatchString(t.ID.Name) {
		return &steps.FieldError{Msg: fmt.Sprintf("the resource name %q is not a DNS name, which a VM name must be", t.ID.Name)}
	}
	return nil
}

func orName(s, name string) string {
	if s != "" {
		return s
	}
	return name
}

// checkShrink refuses a smaller disk: Proxmox cannot shrink, and the runner
// never loses data silently.
func checkShrink(before, after steps.Spec) error {
	shrink := func(field string, have, want int64) error {
		if have > 0 && want < have {
			return steps.FieldErrorf(field, "shrinking a disk is not supported: it has %s, the spec asks for %s (grow only; to shrink, create a new guest)", Size{MiB: have}, Size{MiB: want})
		}
		return nil
	}
	switch a := after.(type) {
	case *LXCSpec:
		bl := before.(*LXCSpec)
		if err := shrink("rootfs.size", bl.RootFS.Size.MiB, a.RootFS.Size.MiB); err != nil {
			return err
		}
		for i, m := range a.Mounts {
			if i < len(bl.Mounts) && bl.Mounts[i].Path == m.Path {
				if err := shrink(fmt.Sprintf("mounts[%d].size", i), bl.Mounts[i].Size.MiB, m.Size.MiB); err != nil {
					return err
				}
			}
		}
		if len(bl.Mounts) > len(a.Mounts) {
			return steps.FieldErrorf("mounts", "the container has %d mount points, the spec lists %d: removing a mount point is not done by the runner (it would lose data); detach it in Proxmox first", len(bl.Mounts), len(a.Mounts))
		}
	case *VMSpec:
		bv := before.(*VMSpec)
		for i, d := range a.Disks {
			for _, h := range bv.Disks {
				if h.Slot == d.Slot {
					if err := shrink(fmt.Sprintf("disks[%d].size", i), h.Size.MiB, d.Size.MiB); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// updateOps computes the config keys, resizes and power action that take
// the live guest to the wanted spec.
func updateOps(t steps.Target, l *Live, before, after steps.Spec) (*ops, error) {
	o := &ops{Type: l.Type, VMID: l.VMID, Node: l.Node, Set: map[string]string{}, Resize: map[string]int64{}}
	bc, ac := wantCommon(before), wantCommon(after)
	setIf := func(key string, changed bool, v string) {
		if !changed {
			return
		}
		if v == "" {
			o.Delete = append(o.Delete, key)
			return
		}
		o.Set[key] = v
	}
	setIf("cores", bc.Cores != ac.Cores, strconv.Itoa(ac.Cores))
	setIf("memory", bc.Memory.MiB != ac.Memory.MiB, strconv.FormatInt(ac.Memory.MiB, 10))
	setIf("onboot", bc.OnBoot != ac.OnBoot, boolStr(ac.OnBoot))
	setIf("startup", !reflect.DeepEqual(bc.Startup, ac.Startup), formatStartup(ac.Startup))
	setIf("description", bc.Description != ac.Description, ac.Description)
	// The owner tag is compared too: a guest without it gets it with its
	// first change.
	setIf("tags", liveTags(l.Tags) != joinTags(ac.Tags), joinTags(ac.Tags))
	for i, n := range ac.Networks {
		if i < len(bc.Networks) && bc.Networks[i] == n {
			continue
		}
		key := "net" + strconv.Itoa(i)
		mac := n.MAC
		if mac == "" {
			mac = liveMAC(l, key)
		}
		o.Set[key] = netString(t.ID.Kind, n, mac)
		if t.ID.Kind == KindVM && (i >= len(bc.Networks) || bc.Networks[i].IP != n.IP || bc.Networks[i].Gateway != n.Gateway) && n.IP != "" {
			o.Set["ipconfig"+strconv.Itoa(i)] = ipconfigString(n)
		}
	}
	for i := len(ac.Networks); i < len(bc.Networks); i++ {
		o.Delete = append(o.Delete, "net"+strconv.Itoa(i))
		if _, ok := l.Config["ipconfig"+strconv.Itoa(i)]; ok && t.ID.Kind == KindVM {
			o.Delete = append(o.Delete, "ipconfig"+strconv.Itoa(i))
		}
	}
	switch a := after.(type) {
	case *LXCSpec:
		bl := before.(*LXCSpec)
		setIf("hostname", bl.Hostname != a.Hostname, a.Hostname)
		setIf("swap", bl.Swap.MiB != a.Swap.MiB, strconv.FormatInt(a.Swap.MiB, 10))
		setIf("features", bl.Features != a.Features, featuresString(a.Features))
		setIf("nameserver", bl.Nameserver != a.Nameserver, a.Nameserver)
		setIf("searchdomain", bl.Searchdomain != a.Searchdomain, a.Searchdomain)
		if a.RootFS.Size.MiB > bl.RootFS.Size.MiB {
			o.Resize["rootfs"] = a.RootFS.Size.MiB
		}
		for i, m := range a.Mounts {
			key := "mp" + strconv.Itoa(i)
			if i >= len(bl.Mounts) {
				o.Set[key] = mountString(m)
				continue
			}
			if m.Size.MiB > bl.Mounts[i].Size.MiB {
				o.Resize[key] = m.Size.MiB
			}
			if m.Backup != bl.Mounts[i].Backup {
				mp := props(l.Config[key], "volume")
				mp["backup"] = boolStr(m.Backup)
				o.Set[key] = propString(mp, "volume")
			}
		}
	case *VMSpec:
		bv := before.(*VMSpec)
		if a.CloudInit != nil {
			bci := bv.CloudInit
			if bci == nil {
				bci = &CloudInit{}
			}
			setIf("ciuser", bci.User != a.CloudInit.User, a.CloudInit.User)
			setIf("sshkeys", !reflect.DeepEqual(bci.SSHKeys, a.CloudInit.SSHKeys), encodeSSHKeys(a.CloudInit.SSHKeys))
			setIf("nameserver", bci.Nameserver != a.CloudInit.Nameserver, a.CloudInit.Nameserver)
			setIf("searchdomain", bci.Searchdomain != a.CloudInit.Searchdomain, a.CloudInit.Searchdomain)
		}
		for _, d := range a.Disks {
			found := false
			for _, h := range bv.Disks {
				if h.Slot == d.Slot {
					found = true
					if d.Size.MiB > h.Size.MiB {
						o.Resize[d.Slot] = d.Size.MiB
					}
				}
			}
			if !found {
				if d.Storage == "" {
					return nil, steps.FieldErrorf("disks", "the VM has no disk %s yet: give its storage to create it", d.Slot)
				}
				o.Set[d.Slot] = fmt.Sprintf("%s:%d", d.Storage, d.Size.MiB/1024)
			}
		}
	}
	if bc.State != ac.State {
		if ac.State == "running" {
			o.Power = "start"
		} else {
			o.Power = "shutdown"
		}
	}
	sort.Strings(o.Delete)
	return o, nil
}
