package proxmox

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	goprox "github.com/luthermonson/go-proxmox"

	"github.com/gitops-runner/gitops-runner/steps"
)

var _ steps.Importer = (*Backend)(nil)

// lxcManaged and vmManaged are the config keys the backend manages (the
// indexed ones by prefix: net, mp, ipconfig and the disk slots); autoKeys
// are those Proxmox writes itself (pct create takes arch and ostype from the
// template; qm create and clone write smbios1, vmgenid and meta). Every
// other key of a guest's config is an option set by hand, which an import
// lists as left alone.
var (
	lxcManaged = map[string]bool{"hostname": true, "cores": true, "memory": true, "swap": true, "description": true,
		"onboot": true, "startup": true, "tags": true, "unprivileged": true, "features": true, "rootfs": true,
		"nameserver": true, "searchdomain": true}
	vmManaged = map[string]bool{"name": true, "cores": true, "memory": true, "description": true, "onboot": true,
		"startup": true, "tags": true, "ciuser": true, "sshkeys": true, "nameserver": true, "searchdomain": true}
	autoKeys = map[string]bool{"digest": true, "lock": true, "arch": true, "ostype": true, "smbios1": true,
		"vmgenid": true, "meta": true, "template": true}
	// secretKeys are config keys whose value an import never writes
	// anywhere, only that they are set (pve-apidata.json: qemu's cipassword
	// "Password to assign the user", kept hashed, still not for a repo;
	// the free command lines and environment that can hold a credential:
	// qemu's args "Arbitrary arguments passed to kvm", lxc's entrypoint
	// "Command to run as init" and env "The container runtime environment").
	secretKeys = map[string]bool{"cipassword": true, "args": true, "entrypoint": true, "env": true}
)

// Import implements steps.Importer: every guest (LXC and QEMU, not
// templates) of the cluster as proxmox.lxc and proxmox.vm resources built
// with proxmox.libsonnet, only the fields that differ from the spec's
// defaults. where must be empty (the whole cluster). Calls: one
// /cluster/resources, then Observe's (one /cluster/resources, one /nodes,
// one /pending per guest) and, per node with containers, its storages with
// container templates and their contents; no write.
//
// Proxmox does not record the template a container was created from or
// the VM template a VM was cloned from. Both are used only to make a guest
// anew (the plan of an existing guest never compares them), so the import
// writes its best guess and lists it under "To confirm": for a linked clone
// the template its disks are based on (certain), else the only (or first)
// VM template of the node; for a container the newest template of its
// ostype on its node.
//
// A guest is left alone, and listed with the reason, when the backend
// cannot describe it so that it plans clean: a bind mount or a device
// passed through as a mount point, a network gap, a config that would plan
// a change (Diff is run on every guest before it is written). Options set
// by hand that the backend does not manage (cpu type, agent, sockets,
// protection…) are listed per guest and left as they are.
func (b *Backend) Import(ctx context.Context, where []string) (*steps.Imported, error) {
	return b.importGuests(ctx, where, "")
}

// importGuests is Import; cluster, when not "", is written into every spec
// (the clusters config form with several clusters).
func (b *Backend) importGuests(ctx context.Context, where []string, cluster string) (*steps.Imported, error) {
	if len(where) > 0 {
		return nil, fmt.Errorf("proxmox import takes no place to read (got %s): it reads every guest of the cluster", strings.Join(where, ", "))
	}
	if b.client == nil {
		return nil, errNotConfigured
	}
	var res []*clusterResource
	if err := b.get(ctx, "/cluster/resources?type=vm", &res); err != nil {
		return nil, err
	}
	im := &steps.Imported{
		File: "guests.libsonnet",
		Header: "// Proxmox VE guests, imported by `runner import`. ostemplate and\n" +
			"// clone.template are the import's best guess: see IMPORT.md, \"To confirm\".\n" +
			"local proxmox = import 'proxmox.libsonnet';\n",
	}
	var guests []*clusterResource
	names := map[steps.ID]int{}
	for _, r := range res {
		if r == nil || (r.Type != "lxc" && r.Type != "qemu") {
			continue
		}
		if r.Template != 0 {
			im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{
				Where: fmt.Sprintf("Proxmox VM template %d (%s) on %s", r.VMID, r.Name, r.Node),
				Why:   "a template is what VMs are cloned from, not a guest the runner runs",
				Then:  "left alone: the runner clones it when a proxmox.vm names it, and never changes it",
			})
			continue
		}
		guests = append(guests, r)
	}
	slices.SortFunc(guests, func(a, b *clusterResource) int {
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return int(a.VMID) - int(b.VMID) //nolint:gosec // VMIDs are below 1e9
	})
	targets := make([]steps.Target, 0, len(guests))
	for _, r := range guests {
		id := steps.ID{Kind: KindLXC, Name: r.Name}
		if r.Type == "qemu" {
			id.Kind = KindVM
		}
		names[id]++
		st, _ := json.Marshal(guestRef{VMID: int(r.VMID), Node: r.Node}) //nolint:gosec // VMIDs are below 1e9
		targets = append(targets, steps.Target{ID: id, State: st})
	}
	for i := range targets {
		if names[targets[i].ID] > 1 {
			// Two guests with one name cannot both be that resource: a
			// name with the VMID keeps them apart (and each its hostname),
			// once more while another guest has that name (CT 140 "dup-130").
			for names[targets[i].ID] > 0 {
				targets[i].ID.Name += "-" + strconv.Itoa(int(guests[i].VMID)) //nolint:gosec // VMIDs are below 1e9
			}
			names[targets[i].ID]++
		}
	}
	live, err := b.Observe(ctx, targets)
	if err != nil {
		return nil, err
	}
	facts := b.facts()
	tpls, err := b.containerTemplates(ctx, guests)
	if err != nil {
		return nil, err
	}
	for i, t := range targets {
		l, ok := live[t.ID].(*Live)
		if !ok {
			continue // deleted since the listing
		}
		g := guestImport{b: b, id: t.ID, l: l, facts: facts, tpls: tpls[l.Node], cluster: cluster}
		f, err := g.found()
		where := fmt.Sprintf("Proxmox %s %d (%s) on %s", typeWord(l.Type), l.VMID, guests[i].Name, l.Node)
		if err != nil {
			im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{Where: where, Why: err.Error(),
				Then: "left alone: not in the repo, so the runner neither changes nor deletes it"})
			continue
		}
		im.Resources = append(im.Resources, f)
		for _, c := range g.confirm {
			c.ID, c.Where = t.ID, where+": "+c.Where
			im.Confirm = append(im.Confirm, c)
		}
		if len(g.others) > 0 {
			im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{ID: t.ID, Where: where + ": options",
				Why:  "options the runner does not manage: " + strings.Join(g.others, ", "),
				Then: "left as they are: the runner never sets or clears them"})
		}
		if len(l.Pending) > 0 {
			im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{ID: t.ID, Where: where + ": pending changes",
				Why:  "Proxmox has pending changes of " + strings.Join(l.Pending, ", ") + ", applied at the guest's next restart",
				Then: "the repo declares the config with them applied (as every plan reads it); the runner leaves the restart to you"})
		}
	}
	return im, nil
}

// containerTemplates lists the container template volumes (content vztmpl)
// of each node that runs a container: one storage listing per node and one
// content listing per storage that holds templates.
func (b *Backend) containerTemplates(ctx context.Context, guests []*clusterResource) (map[string][]string, error) {
	out := map[string][]string{}
	for _, g := range guests {
		if g.Type != "lxc" {
			continue
		}
		if _, done := out[g.Node]; done {
			continue
		}
		out[g.Node] = []string{}
		var sts []struct {
			Storage string `json:"storage"`
		}
		node := url.PathEscape(g.Node)
		if err := b.get(ctx, "/nodes/"+node+"/storage?content=vztmpl", &sts); err != nil {
			return nil, err
		}
		for _, st := range sts {
			var vols []struct {
				VolID string `json:"volid"`
			}
			if err := b.get(ctx, "/nodes/"+node+"/storage/"+url.PathEscape(st.Storage)+"/content?content=vztmpl", &vols); err != nil {
				return nil, err
			}
			for _, v := range vols {
				out[g.Node] = append(out[g.Node], v.VolID)
			}
		}
		slices.Sort(out[g.Node])
	}
	return out, nil
}

// guestImport turns one live guest into a resource.
type guestImport struct {
	b     *Backend
	id    steps.ID
	l     *Live
	facts *clusterFacts
	tpls  []string // the node's container templates
	// cluster is written as the spec's cluster unless "".
	cluster string

	fields  []field         // the spec, in the order a person writes it
	used    map[string]bool // config keys the spec covers
	confirm []steps.Unmanaged
	others  []string // options left alone, "key=value"
}

// field is one spec field: its JSON value and, when a lib helper builds
// it, the Jsonnet that does (else the value is written as a literal).
type field struct {
	key     string
	value   any
	jsonnet string
}

func (g *guestImport) put(key string, v any, jsonnet string) {
	g.fields = append(g.fields, field{key, v, jsonnet})
}

// found builds the resource, decodes it as a push would, and checks with
// Diff that the repo would adopt the guest without a change.
func (g *guestImport) found() (steps.Found, error) {
	l := g.l
	g.used = map[string]bool{}
	kind := g.id.Kind
	if g.cluster != "" {
		g.put("cluster", g.cluster, "")
	}
	g.put("node", l.Node, "")
	g.put("vmid", l.VMID, "")
	c := l.Config
	if v := c["cores"]; v != "1" {
		g.put("cores", atoiOr(v), "")
	}
	if m := int64(atoiOr(c["memory"])); m != memoryRule.def {
		g.put("memory", Size{MiB: m}.String(), "")
	}
	var err error
	if kind == KindLXC {
		err = g.lxc()
	} else {
		err = g.vm()
	}
	if err != nil {
		return steps.Found{}, err
	}
	if l.Config["onboot"] == "1" {
		g.put("onboot", true, "")
	}
	if s := parseStartup(c["startup"]); s != nil {
		g.put("startup", s, "")
	}
	if l.Status == "stopped" {
		g.put("state", "stopped", "")
	}
	if l.Pool != "" {
		g.put("pool", l.Pool, "")
	}
	if tags := userTags(l.Tags); len(tags) > 0 {
		g.put("tags", tags, "")
	}
	if d := c["description"]; d != "" {
		g.put("description", d, "")
	}
	g.leftAlone(kind)

	slices.Sort(g.others)
	var opts strings.Builder
	for _, f := range g.fields {
		if f.jsonnet == "" {
			f.jsonnet = steps.JsonnetValue(f.value)
		}
		opts.WriteString("\n" + f.key + ": " + f.jsonnet + ",")
	}
	raw, err := json.Marshal(object(g.fields))
	if err != nil {
		return steps.Found{}, err
	}
	s, err := g.b.Decode(kind, raw)
	if err != nil {
		return steps.Found{}, fmt.Errorf("the runner cannot declare it: %w", err)
	}
	ch, err := g.b.Diff(steps.Target{ID: g.id, Want: s, Adopt: true}, l)
	if err != nil {
		return steps.Found{}, fmt.Errorf("the runner cannot declare it: %w", err)
	}
	if ch.Action != steps.NoOp {
		var what []string
		for _, f := range ch.Fields {
			what = append(what, fmt.Sprintf("%s %s → %s", f.Path, jsonOf(f.Before), jsonOf(f.After)))
		}
		return steps.Found{}, fmt.Errorf("declaring it would plan a change (%s: %s): the spec cannot express what it runs with", ch.Action, strings.Join(what, "; "))
	}
	helper := "lxc"
	if kind == KindVM {
		helper = "vm"
	}
	group := "node " + l.Node
	if g.cluster != "" {
		group = "cluster " + g.cluster + ", " + group
	}
	machine := l.Config["hostname"]
	if kind == KindVM {
		machine = l.Config["name"]
	}
	return steps.Found{
		ID:      g.id,
		Spec:    s,
		Group:   group,
		Machine: machine,
		Jsonnet: fmt.Sprintf("proxmox.%s(%s, {%s\n}, { adopt: true })", helper, steps.JsonnetValue(g.id.Name), opts.String()),
	}, nil
}

// object is a JSON object that keeps its keys in the order they were put,
// the order a person writes a spec in.
type object []field

func (o object) with(key string, v any) object { return append(o, field{key: key, value: v}) }

// MarshalJSON writes the fields in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// atoiOr is the number a config value holds; "" (Proxmox's default, which
// the backend reads as 0) stays 0 and shows in the Diff check.
func atoiOr(s string) int { return atoi(s) }

// lxc puts the container's own fields.
func (g *guestImport) lxc() error {
	c := g.l.Config
	g.used["cores"], g.used["memory"] = true, true
	if t := g.ostemplate(); t == libDebian12 {
		g.put("ostemplate", t, "proxmox.templates.debian12")
	} else {
		g.put("ostemplate", t, "")
	}
	if h := c["hostname"]; h != "" && h != g.id.Name {
		g.put("hostname", h, "")
	}
	if c["unprivileged"] != "1" {
		g.put("unprivileged", false, "")
	}
	fp := props(c["features"], "")
	f := Features{Nesting: fp["nesting"] == "1", Keyctl: fp["keyctl"] == "1", Fuse: fp["fuse"] == "1"}
	switch f {
	case Features{}:
	case Features{Nesting: true, Keyctl: true}:
		g.put("features", f, "proxmox.docker")
	default:
		g.put("features", f, "")
	}
	var extra []string
	for _, k := range slices.Sorted(maps.Keys(fp)) {
		if k != "nesting" && k != "keyctl" && k != "fuse" {
			extra = append(extra, k+"="+fp[k])
		}
	}
	if len(extra) > 0 {
		g.others = append(g.others, "features "+strings.Join(extra, ","))
	}
	rp := props(c["rootfs"], "volume")
	g.put("rootfs", object{}.with("storage", storageOf(rp["volume"])).with("size", Size{MiB: diskSizeMiB(rp["size"])}.String()), "")
	g.extraProps("rootfs", rp, "volume", "size")
	var mounts []object
	keys, err := g.numbered("mp", "mount points", "mounts")
	if err != nil {
		return err
	}
	for _, key := range keys {
		mp := props(c[key], "volume")
		if v := mp["volume"]; strings.HasPrefix(v, "/") || !strings.Contains(v, ":") {
			return fmt.Errorf("%s is a bind mount or device (%s at %s): the runner manages volume mount points only", key, v, mp["mp"])
		}
		m := object{}.with("path", mp["mp"]).with("storage", storageOf(mp["volume"])).with("size", Size{MiB: diskSizeMiB(mp["size"])}.String())
		if mp["backup"] == "1" {
			m = m.with("backup", true)
		}
		mounts = append(mounts, m)
		g.extraProps(key, mp, "volume", "mp", "size", "backup")
	}
	if len(mounts) > 0 {
		g.put("mounts", mounts, listLines(mounts))
	}
	if err := g.networks(KindLXC); err != nil {
		return err
	}
	if sw := c["swap"]; sw != strconv.FormatInt(swapRule.def, 10) {
		g.put("swap", Size{MiB: int64(atoi(sw))}.String(), "")
	}
	if v := c["nameserver"]; v != "" {
		g.put("nameserver", v, "")
	}
	if v := c["searchdomain"]; v != "" {
		g.put("searchdomain", v, "")
	}
	return nil
}

// libDebian12 is proxmox.libsonnet's templates.debian12: a guess equal to
// it is written through the lib, as a person would.
const libDebian12 = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"

// ostemplate guesses a container's template: the newest template of its
// ostype (its file name starts with it, as the templates of
// pveam's index do: debian-12-standard_…, ubuntu-24.04-standard_…) on its
// node. The guess is listed to confirm.
func (g *guestImport) ostemplate() string {
	ostype := g.l.Config["ostype"]
	var match []string
	for _, t := range g.tpls {
		_, file, _ := strings.Cut(t, ":vztmpl/")
		if ostype != "" && strings.HasPrefix(file, ostype+"-") {
			match = append(match, t)
		}
	}
	if len(match) == 0 {
		os := ostype
		if os == "" {
			os = "unknown"
		}
		t := "local:vztmpl/" + os + "-template-to-confirm.tar.zst"
		g.confirm = append(g.confirm, steps.Unmanaged{Where: "ostemplate",
			Why:  fmt.Sprintf("Proxmox does not record the template a container was made from, and node %s has no template of its ostype %q", g.l.Node, ostype),
			Then: "written as " + t + ", a placeholder: set the template to re-create it from before the container is ever replaced"})
		return t
	}
	slices.SortFunc(match, func(a, b string) int { return -compareVersions(a, b) })
	why := fmt.Sprintf("Proxmox does not record the template a container was made from; this is the newest %s template on %s", ostype, g.l.Node)
	if len(match) > 1 {
		why += " (also there: " + strings.Join(match[1:], ", ") + ")"
	}
	g.confirm = append(g.confirm, steps.Unmanaged{Where: "ostemplate " + match[0], Why: why,
		Then: "used only if the container is ever made anew (a replace): confirm or correct it"})
	return match[0]
}

// compareVersions orders template names by their numbers
// ("debian-12-standard_12.7-1" after "debian-12-standard_12.2-1", "…_12.10" after "…_12.9").
func compareVersions(a, b string) int {
	split := func(s string) []string {
		var parts []string
		cur, digit := "", false
		for _, r := range s {
			d := r >= '0' && r <= '9'
			if cur != "" && d != digit {
				parts = append(parts, cur)
				cur = ""
			}
			cur += string(r)
			digit = d
		}
		return append(parts, cur)
	}
	pa, pb := split(a), split(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		switch {
		case ea == nil && eb == nil && na != nb:
			return na - nb
		case (ea != nil || eb != nil) && pa[i] != pb[i]:
			return strings.Compare(pa[i], pb[i])
		}
	}
	return len(pa) - len(pb)
}

// vm puts the VM's own fields.
func (g *guestImport) vm() error {
	c := g.l.Config
	g.used["cores"], g.used["memory"] = true, true
	tpl, full := g.cloneTemplate()
	clone := object{}.with("template", tpl)
	if !full {
		clone = clone.with("full", false)
	}
	g.put("clone", clone, "")
	var ci object
	if v := c["ciuser"]; v != "" {
		ci = ci.with("user", v)
	}
	if k, err := url.PathUnescape(c["sshkeys"]); err == nil {
		var keys []string
		for _, line := range strings.Split(k, "\n") {
			if strings.TrimSpace(line) != "" {
				keys = append(keys, strings.TrimSpace(line))
			}
		}
		if len(keys) > 0 {
			ci = ci.with("sshKeys", keys)
		}
	}
	if v := c["nameserver"]; v != "" {
		ci = ci.with("nameserver", v)
	}
	if v := c["searchdomain"]; v != "" {
		ci = ci.with("searchdomain", v)
	}
	if len(ci) > 0 {
		g.put("cloudInit", ci, "")
	}
	var disks []object
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if !slotRE.MatchString(k) {
			continue
		}
		dp := props(c[k], "volume")
		if dp["media"] == "cdrom" || strings.HasSuffix(dp["volume"], "-cloudinit") {
			continue
		}
		g.used[k] = true
		size := diskSizeMiB(dp["size"])
		if size%1024 != 0 || size < 1024 {
			// The spec has whole GiB only: the disk stays out of disks,
			// which then never resizes it.
			g.others = append(g.others, k+" (size "+dp["size"]+", not whole GiB: not in disks, never resized)")
			continue
		}
		disks = append(disks, object{}.with("slot", k).with("size", Size{MiB: size}.String()))
		g.extraProps(k, dp, "volume", "size")
	}
	slices.SortFunc(disks, func(a, b object) int { return compareVersions(a[0].value.(string), b[0].value.(string)) })
	if len(disks) > 0 {
		g.put("disks", disks, "")
	}
	return g.networks(KindVM)
}

// cloneTemplate guesses the template a VM was cloned from: for a linked
// clone, the template whose base volume its disks are on
// ("local-zfs:base-9000-disk-0/vm-104-disk-0", certain, and full: false);
// else a VM template on the VM's node (the only one, or the lowest VMID),
// else any template of the cluster, else a placeholder name. All but the
// linked case are listed to confirm.
func (g *guestImport) cloneTemplate() (any, bool) {
	for _, k := range slices.Sorted(maps.Keys(g.l.Config)) {
		if !slotRE.MatchString(k) {
			continue
		}
		vol := props(g.l.Config[k], "volume")["volume"]
		_, name, _ := strings.Cut(vol, ":")
		if base, _, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(base, "base-") {
			if n, err := strconv.Atoi(strings.Split(base, "-")[1]); err == nil {
				g.confirm = append(g.confirm, steps.Unmanaged{Where: "clone.template " + strconv.Itoa(n),
					Why:  fmt.Sprintf("a linked clone: its disk %s is based on template %d's volume", k, n),
					Then: "nothing to confirm unless the template was replaced since"})
				return n, false
			}
		}
	}
	var onNode, elsewhere []goprox.ClusterResource
	if g.facts != nil {
		for _, r := range g.facts.guests {
			if r.Type != "qemu" || r.Template == 0 {
				continue
			}
			if r.Node == g.l.Node {
				onNode = append(onNode, r)
			} else {
				elsewhere = append(elsewhere, r)
			}
		}
	}
	cands := onNode
	if len(cands) == 0 {
		cands = elsewhere
	}
	if len(cands) == 0 {
		const ph = "template-to-confirm"
		g.confirm = append(g.confirm, steps.Unmanaged{Where: "clone.template",
			Why:  "Proxmox does not record the template a VM was cloned from, and the cluster has no VM template",
			Then: "written as \"" + ph + "\", a placeholder: name the template to re-create it from before the VM is ever replaced"})
		return ph, true
	}
	slices.SortFunc(cands, func(a, b goprox.ClusterResource) int { return int(a.VMID) - int(b.VMID) }) //nolint:gosec // VMIDs are below 1e9
	pick := cands[0]
	why := fmt.Sprintf("Proxmox does not record the template a VM was cloned from (a full clone keeps no link); %d (%s) is the", pick.VMID, pick.Name)
	if len(cands) == 1 {
		why += " only VM template"
	} else {
		why += " first of the VM templates"
	}
	if pick.Node == g.l.Node {
		why += " on " + pick.Node
	} else {
		why += " of the cluster"
	}
	if len(cands) > 1 {
		var rest []string
		for _, r := range cands[1:] {
			rest = append(rest, fmt.Sprintf("%d (%s)", r.VMID, r.Name))
		}
		why += " (also: " + strings.Join(rest, ", ") + ")"
	}
	g.confirm = append(g.confirm, steps.Unmanaged{Where: fmt.Sprintf("clone.template %d", pick.VMID), Why: why,
		Then: "used only if the VM is ever made anew (a replace): confirm or correct it"})
	return int(pick.VMID), true //nolint:gosec // VMIDs are below 1e9
}

// networks puts the interfaces, through proxmox.network where it fits.
func (g *guestImport) networks(kind string) error {
	c := g.l.Config
	var nets []any
	var exprs []string
	keys, err := g.numbered("net", "interfaces", "networks")
	if err != nil {
		return err
	}
	for i, key := range keys {
		p := props(c[key], "")
		net := map[string]any{"bridge": p["bridge"]}
		known := []string{"bridge", "tag", "firewall"}
		ip, gw := p["ip"], p["gw"]
		var extra []string
		if kind == KindLXC {
			known = append(known, "name", "hwaddr", "ip", "gw", "type")
			if name := p["name"]; name != "eth"+strconv.Itoa(i) {
				net["name"] = name
				extra = append(extra, "name: "+steps.JsonnetValue(name))
			}
		} else {
			ipc := "ipconfig" + strconv.Itoa(i)
			g.used[ipc] = true
			icp := props(c[ipc], "")
			ip, gw = icp["ip"], icp["gw"]
			g.extraProps(ipc, icp, "ip", "gw")
			model := ""
			for m := range vmModels {
				if _, ok := p[m]; ok {
					model = m
				}
			}
			if model == "" {
				model = p["model"]
				known = append(known, "model")
			}
			known = append(known, model)
			if model != "virtio" {
				net["model"] = model
				extra = append(extra, "model: "+steps.JsonnetValue(model))
			}
		}
		if ip != "" {
			net["ip"] = ip
		}
		if gw != "" {
			net["gateway"] = gw
		}
		vlan := atoi(p["tag"])
		if vlan != 0 {
			net["vlan"] = vlan
		}
		if p["firewall"] == "1" {
			net["firewall"] = true
			extra = append(extra, "firewall: true")
		}
		g.extraProps(key, p, known...)
		nets = append(nets, net)
		// proxmox.network(bridge, ip='dhcp', gateway=null, vlan=null); its
		// ip defaults to dhcp, so an interface without one is a literal.
		var expr string
		if ip == "" {
			lit := []string{"bridge: " + steps.JsonnetValue(p["bridge"])}
			if gw != "" {
				lit = append(lit, "gateway: "+steps.JsonnetValue(gw))
			}
			if vlan != 0 {
				lit = append(lit, "vlan: "+strconv.Itoa(vlan))
			}
			expr = "{ " + strings.Join(append(lit, extra...), ", ") + " }"
		} else {
			args := []string{steps.JsonnetValue(p["bridge"]), steps.JsonnetValue(ip)}
			if gw != "" {
				args = append(args, steps.JsonnetValue(gw))
			}
			if vlan != 0 {
				args = append(args, "vlan="+strconv.Itoa(vlan))
			}
			expr = "proxmox.network(" + strings.Join(args, ", ") + ")"
			if len(extra) > 0 {
				expr += " + { " + strings.Join(extra, ", ") + " }"
			}
		}
		exprs = append(exprs, expr)
	}
	if len(nets) > 0 {
		g.put("networks", nets, "["+strings.Join(exprs, ", ")+"]")
	}
	return nil
}

// numbered are the config keys prefix0, prefix1… in order, marked as
// covered by the spec; a gap (net0, net2) is refused: the spec numbers them
// by their order in its list (field), so it cannot say the gap.
func (g *guestImport) numbered(prefix, what, field string) ([]string, error) {
	var keys []string
	for n, i := range indexed(g.l.Config, prefix) {
		key := prefix + strconv.Itoa(i)
		g.used[key] = true
		if n != i {
			return nil, fmt.Errorf("its %s are not numbered from %s0 without a gap (%s): the runner numbers them by their order in %s", what, prefix, key, field)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// listLines writes a list one element a line, as a person writes a list
// of objects.
func listLines[T any](xs []T) string {
	if len(xs) < 2 {
		return steps.JsonnetValue(xs)
	}
	var b strings.Builder
	b.WriteString("[")
	for _, x := range xs {
		b.WriteString("\n" + steps.JsonnetValue(x) + ",")
	}
	b.WriteString("\n]")
	return b.String()
}

// extraProps lists the properties of a config value the spec does not
// cover (a mount point's ro=1, a NIC's rate or mtu) as left alone.
func (g *guestImport) extraProps(key string, p map[string]string, known ...string) {
	var extra []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if !slices.Contains(known, k) {
			extra = append(extra, k+"="+p[k])
		}
	}
	if len(extra) > 0 {
		g.others = append(g.others, key+" "+strings.Join(extra, ","))
	}
}

// leftAlone lists the config keys the spec does not cover.
func (g *guestImport) leftAlone(kind string) {
	managed := vmManaged
	if kind == KindLXC {
		managed = lxcManaged
	}
	for _, k := range slices.Sorted(maps.Keys(g.l.Config)) {
		// A VM's ostype is chosen by hand (qm create --ostype), unlike a
		// container's (pct create takes it from the template).
		if managed[k] || (autoKeys[k] && (k != "ostype" || kind == KindLXC)) || g.used[k] {
			continue
		}
		if kind == KindVM && (strings.HasPrefix(k, "ide") || strings.HasPrefix(k, "sata") || strings.HasPrefix(k, "scsi") || strings.HasPrefix(k, "virtio")) {
			dp := props(g.l.Config[k], "volume")
			if dp["media"] == "cdrom" && strings.HasSuffix(dp["volume"], "-cloudinit") {
				continue // the cloud-init drive, which cloudInit feeds
			}
		}
		v := g.l.Config[k]
		if secretKeys[k] {
			v = "(set, not shown)"
		}
		g.others = append(g.others, k+"="+v)
	}
}
