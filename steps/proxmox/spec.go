package proxmox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gitops-runner/gitops-runner/steps"
)

// The kinds this backend owns.
const (
	KindLXC = "proxmox.lxc"
	KindVM  = "proxmox.vm"
)

// OwnerTag is the Proxmox tag the runner adds to every guest it creates, so
// an operator sees in the UI which guests are managed from git.
const OwnerTag = "gitops-runner"

// Size is a memory or disk size in MiB. In a spec it is written "4GiB",
// "512MiB", "1TiB" or as a plain number of MiB; it always marshals as an
// integer number of MiB (policies read spec.memory as MiB). Only an absent
// (or null) size takes its field's default: a written 0 is a value, checked
// like any other.
type Size struct {
	MiB int64
	set bool   // the spec gives a value (or the default was filled in)
	bad string // why the written value is not a size; reported by validate
}

// UnmarshalJSON records the size, or why it is not one (validation names the
// field, which a json.Unmarshaler cannot). null is as good as absent.
func (s *Size) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	s.set = true
	mib, err := parseSize(b)
	if err != nil {
		s.bad = err.Error()
		return nil
	}
	s.MiB, s.bad = mib, ""
	return nil
}

// MarshalJSON writes the size as an integer number of MiB.
func (s Size) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, s.MiB, 10), nil }

// The largest sizes a spec may ask for, in MiB. PVE's schema has no maximum
// for them (pve-apidata.json: lxc memory "16 - N", swap "0 - N"; qemu
// memory minimum 16; DiskSize without bounds), so without these a typo
// ("1048576TiB") or a number that overflows bytes would reach the plan.
const (
	// maxMemoryMiB (4 TiB) is qemu-server's MAX_MEM, 4194304 MiB
	// (PVE/QemuServer/Memory.pm: "Total memory is bigger than
	// ${MAX_MEM}MB"); it bounds container memory and swap too.
	maxMemoryMiB = 4 << 20
	// maxDiskMiB (1 PiB) is the runner's bound for one volume: far above any
	// homelab storage, and far below where MiB → bytes overflows int64.
	maxDiskMiB = 1 << 30
)

func parseSize(b []byte) (int64, error) {
	if str, ok := unitString(b); ok {
		return parseUnits(str)
	}
	return parseSizeJSON(b)
}

// parseSizeJSON is parseSize through encoding/json: a number (or a string
// holding one) is MiB, else the string has a unit.
func parseSizeJSON(b []byte) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		v, err := strconv.ParseInt(n.String(), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s MiB is too large", n)
		}
		if err != nil {
			return 0, fmt.Errorf("%s is not a whole number of MiB", n)
		}
		return v, nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return 0, fmt.Errorf("want a size like \"4GiB\", \"512MiB\" or a number of MiB, got %s", b)
	}
	return parseUnits(str)
}

// parseUnits reads a size with its unit ("4GiB") for parseSize.
func parseUnits(str string) (int64, error) {
	units := []struct {
		suffix string
		mib    int64
	}{{"TiB", 1 << 20}, {"GiB", 1 << 10}, {"MiB", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(strings.TrimSpace(str), u.suffix); ok {
			v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err == nil && v >= 0 && v <= (1<<40)/u.mib {
				return v * u.mib, nil
			}
			if errors.Is(err, strconv.ErrRange) || (err == nil && v > 0) {
				return 0, fmt.Errorf("%q is too large", str)
			}
		}
	}
	return 0, fmt.Errorf("want a size like \"4GiB\", \"512MiB\" or a number of MiB, got %q", str)
}

// unitString is the value of b when b is a JSON string of printable ASCII
// without escapes that cannot be a number ("4GiB"): what parseSizeJSON's
// two json.Unmarshal calls would find (a string holding a number decodes
// as a json.Number), without them.
func unitString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	in := b[1 : len(b)-1]
	number := true
	for _, c := range in {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "", false
		}
		number = number && (c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')
	}
	return string(in), !number
}

// String renders the size in the largest whole unit ("4GiB", "1536MiB").
func (s Size) String() string {
	if s.MiB != 0 && s.MiB%1024 == 0 {
		return strconv.FormatInt(s.MiB/1024, 10) + "GiB"
	}
	return strconv.FormatInt(s.MiB, 10) + "MiB"
}

// Startup is the boot order and delays of a guest (PVE `startup`).
type Startup struct {
	Order int `json:"order,omitempty"`
	Up    int `json:"up,omitempty"`
	Down  int `json:"down,omitempty"`
}

// Network is one network interface. IP is "dhcp", "manual" or an IPv4 CIDR
// ("10.42.0.101/24"); Gateway goes with a CIDR. MAC is optional: once
// Proxmox assigned one it is kept (sent back on every change).
type Network struct {
	// Name is the interface name inside a container (default eth0, eth1…).
	Name string `json:"name,omitempty"`
	// Model is the VM NIC model (default virtio).
	Model    string `json:"model,omitempty"`
	Bridge   string `json:"bridge"`
	VLAN     int    `json:"vlan,omitempty"`
	IP       string `json:"ip,omitempty"`
	Gateway  string `json:"gateway,omitempty"`
	Firewall bool   `json:"firewall,omitempty"`
	MAC      string `json:"mac,omitempty"`
}

// Common are the fields of both kinds.
type Common struct {
	// Cluster names the Proxmox cluster the guest runs on: a key of
	// backends.proxmox.clusters. It may be left out when one cluster is
	// configured (Decode then fills in its name) and must be left out with
	// the single-host config form; see Clusters.
	Cluster string `json:"cluster,omitempty"`
	// Node is the Proxmox node the guest runs on (a node of Cluster).
	Node string `json:"node"`
	// VMID is the guest ID; 0 = allocated with /cluster/nextid.
	VMID        int       `json:"vmid,omitempty"`
	Pool        string    `json:"pool,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	Description string    `json:"description,omitempty"`
	Cores       int       `json:"cores"`
	Memory      Size      `json:"memory"`
	Networks    []Network `json:"networks,omitempty"`
	OnBoot      bool      `json:"onboot,omitempty"`
	Startup     *Startup  `json:"startup,omitempty"`
	// State is the desired power state: "running" (default) or "stopped".
	State string `json:"state"`
	// Protect (default true) makes the built-in policy deny deleting or
	// replacing the guest.
	Protect *bool `json:"protect"`
}

// Features are LXC container features (Docker inside LXC wants nesting and
// keyctl).
type Features struct {
	Nesting bool `json:"nesting,omitempty"`
	Keyctl  bool `json:"keyctl,omitempty"`
	Fuse    bool `json:"fuse,omitempty"`
}

// Volume is a disk of a container: storage and size (whole GiB).
type Volume struct {
	Storage string `json:"storage"`
	Size    Size   `json:"size"`
}

// Mount is an extra container volume mounted at Path (mp0, mp1… in order).
type Mount struct {
	Path    string `json:"path"`
	Storage string `json:"storage"`
	Size    Size   `json:"size"`
	Backup  bool   `json:"backup,omitempty"`
}

// LXCSpec is the spec of a proxmox.lxc resource.
type LXCSpec struct {
	Common
	// OSTemplate is the template volume, e.g.
	// "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst" (create only).
	OSTemplate string `json:"ostemplate"`
	// Hostname defaults to the resource name.
	Hostname     string   `json:"hostname,omitempty"`
	Unprivileged *bool    `json:"unprivileged"`
	Features     Features `json:"features"`
	RootFS       Volume   `json:"rootfs"`
	Mounts       []Mount  `json:"mounts,omitempty"`
	Swap         *Size    `json:"swap"`
	// SSHPublicKeys are installed for root at create (Proxmox keeps no copy).
	SSHPublicKeys []string `json:"sshPublicKeys,omitempty"`
	Nameserver    string   `json:"nameserver,omitempty"`
	Searchdomain  string   `json:"searchdomain,omitempty"`
}

// TemplateRef names a VM template by VMID (a JSON number) or name (a string).
type TemplateRef struct {
	VMID int
	Name string
}

// UnmarshalJSON reads a number (VMID) or a string (name).
func (r *TemplateRef) UnmarshalJSON(b []byte) error {
	*r = TemplateRef{}
	if err := json.Unmarshal(b, &r.VMID); err == nil {
		return nil
	}
	if err := json.Unmarshal(b, &r.Name); err == nil {
		return nil
	}
	r.VMID = -1 // reported by validate
	return nil
}

// MarshalJSON writes the VMID or the name.
func (r TemplateRef) MarshalJSON() ([]byte, error) {
	if r.Name != "" {
		return json.Marshal(r.Name)
	}
	return json.Marshal(r.VMID)
}

func (r TemplateRef) String() string {
	if r.Name != "" {
		return strconv.Quote(r.Name)
	}
	return strconv.Itoa(r.VMID)
}

// Clone says which template a VM is cloned from (create only).
type Clone struct {
	Template TemplateRef `json:"template"`
	// Full (default true) makes an independent copy; false a linked clone.
	Full *bool `json:"full"`
	// Storage is the target storage of a full clone.
	Storage string `json:"storage,omitempty"`
}

// CloudInit are the cloud-init settings of a VM; the network settings come
// from Networks (ipconfig0, ipconfig1…).
type CloudInit struct {
	User         string   `json:"user,omitempty"`
	SSHKeys      []string `json:"sshKeys,omitempty"`
	Nameserver   string   `json:"nameserver,omitempty"`
	Searchdomain string   `json:"searchdomain,omitempty"`
}

// Disk is a VM disk by slot ("scsi0"): grow-only size; Storage is needed
// for a disk the VM does not have yet.
type Disk struct {
	Slot    string `json:"slot"`
	Storage string `json:"storage,omitempty"`
	Size    Size   `json:"size"`
}

// VMSpec is the spec of a proxmox.vm resource.
type VMSpec struct {
	Common
	Clone     Clone      `json:"clone"`
	CloudInit *CloudInit `json:"cloudInit,omitempty"`
	Disks     []Disk     `json:"disks,omitempty"`
}

var (
	clusterRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_\-]*[A-Za-z0-9])?$`)
	// tagRE is pve-tag (PVE::JSONSchema): `(?^i:[a-z0-9_][a-z0-9_\-\+\.]*)`,
	// case-insensitive; the datacenter's tag-style case-sensitive option
	// (default off) only changes how tags sort and deduplicate.
	tagRE     = regexp.MustCompile(`(?i)^[a-z0-9_][a-z0-9_\-+.]*$`)
	dnsNameRE = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$`)
	slotRE    = regexp.MustCompile(`^(scsi|virtio|sata)([0-9]|[12][0-9]|30)$`)
	poolRE    = regexp.MustCompile(`^[A-Za-z0-9_\-]+$`)
	vmModels  = map[string]bool{"virtio": true, "e1000": true, "e1000e": true, "rtl8139": true, "vmxnet3": true}
)

// The names every guest's spec has are checked by hand, not by regexp:
// five regexp matches per guest were a tenth of decoding 1000 guests.
// FuzzNames compares each with the regexp in its comment.

// validNode: ^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$ (a node name).
func validNode(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	return allOf(s, "-")
}

// validStorage: ^[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]$ (a storage ID).
func validStorage(s string) bool {
	return len(s) >= 2 && isLetter(s[0]) && isAlnum(s[len(s)-1]) && allOf(s, "-_.")
}

// validIfname: ^[a-zA-Z][a-zA-Z0-9_.\-]{0,14}$ (an interface or bridge
// name).
func validIfname(s string) bool {
	return len(s) >= 1 && len(s) <= 15 && isLetter(s[0]) && allOf(s, "-_.")
}

// validTemplate: ^[a-zA-Z][a-zA-Z0-9\-_.]*:vztmpl/[^/\s]+$ (a container
// template volume; \s is [\t\n\f\r ]).
func validTemplate(s string) bool {
	storage, file, ok := strings.Cut(s, ":vztmpl/")
	return ok && storage != "" && isLetter(storage[0]) && allOf(storage, "-_.") &&
		file != "" && !strings.ContainsAny(file, "/\t\n\f\r ")
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isAlnum(c byte) bool { return isLetter(c) || '0' <= c && c <= '9' }

// allOf reports whether every byte of s is an ASCII letter, a digit or one
// of extra.
func allOf(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && strings.IndexByte(extra, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Decode implements steps.Backend: strict, with defaults filled and sizes
// normalized to MiB.
func (b *Backend) Decode(kind string, raw json.RawMessage) (steps.Spec, error) {
	return decodeSpec(kind, raw)
}

// Decode strictly decodes and validates a spec, filling defaults.
func decodeSpec(kind string, raw json.RawMessage) (steps.Spec, error) {
	switch kind {
	case KindLXC:
		return decodeValid[LXCSpec](raw)
	case KindVM:
		return decodeValid[VMSpec](raw)
	}
	return nil, fmt.Errorf("backend proxmox has no kind %q (kinds: %s, %s)", kind, KindLXC, KindVM)
}

// decodeValid strictly decodes raw as a *T and validates it (which fills
// its defaults). Every problem is reported: a field that did not decode is
// not validated again.
func decodeValid[T any, P interface {
	*T
	validate(*steps.Problems)
}](raw json.RawMessage) (steps.Spec, error) {
	s := P(new(T))
	var p steps.Problems
	if err := p.Decode(raw, s); err != nil {
		return nil, err // not an object: nothing to validate
	}
	var v steps.Problems
	s.validate(&v)
	p.AddNew(v.Err())
	if err := p.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// sizeRule is what a size field accepts: at least min, at most max (MiB),
// whole GiB for disks; def is the default of an absent field (0: required).
type sizeRule struct {
	min, max, def int64
	wholeGiB      bool
	// why explains max in messages.
	why string
}

var (
	memoryRule = sizeRule{min: 16, max: maxMemoryMiB, def: 512, why: "the most Proxmox gives a guest (qemu-server MAX_MEM)"}
	swapRule   = sizeRule{min: 0, max: maxMemoryMiB, def: 512, why: "the most Proxmox gives a guest (qemu-server MAX_MEM)"}
	rootfsRule = sizeRule{min: 1024, max: maxDiskMiB, def: 8 << 10, wholeGiB: true, why: "the runner's bound for one volume"}
	diskRule   = sizeRule{min: 1024, max: maxDiskMiB, wholeGiB: true, why: "the runner's bound for one volume"}
)

// checkSize fills the default of an absent size and checks the size against
// its rule.
func checkSize(field string, s *Size, r sizeRule) error {
	if !s.set {
		if r.def == 0 {
			return steps.FieldErrorf(field, "is required: a size like \"8GiB\"")
		}
		*s = Size{MiB: r.def, set: true}
	}
	if s.bad != "" {
		return steps.FieldErrorf(field, "%s", s.bad)
	}
	if s.MiB < r.min {
		hint := ""
		if r.def != 0 {
			hint = fmt.Sprintf(" (leave %s out for the default %s)", field, Size{MiB: r.def})
		}
		return steps.FieldErrorf(field, "must be at least %s, got %s%s", Size{MiB: r.min}, s, hint)
	}
	if s.MiB > r.max {
		return steps.FieldErrorf(field, "%s is more than %s, %s", s, Size{MiB: r.max}, r.why)
	}
	if r.wholeGiB && s.MiB%1024 != 0 {
		return steps.FieldErrorf(field, "disk sizes must be whole GiB (Proxmox allocates in GiB), got %s", s)
	}
	return nil
}

func boolPtr(b bool) *bool { return &b }

func (c *Common) validate(kind string, p *steps.Problems) {
	if c.Cluster != "" && !clusterRE.MatchString(c.Cluster) {
		p.Addf("cluster", "%q is not a cluster name (letters, digits, - and _)", c.Cluster)
	}
	switch {
	case c.Node == "":
		p.Addf("node", "is required: the Proxmox node to run the guest on")
	case !validNode(c.Node):
		p.Addf("node", "%q is not a node name", c.Node)
	}
	if c.VMID != 0 && (c.VMID < 100 || c.VMID > 999999999) {
		p.Addf("vmid", "must be between 100 and 999999999, got %d", c.VMID)
	}
	if c.Pool != "" && !poolRE.MatchString(c.Pool) {
		p.Addf("pool", "%q is not a pool name", c.Pool)
	}
	tags := map[string]bool{}
	for i, t := range c.Tags {
		if !tagRE.MatchString(t) {
			p.Addf(fmt.Sprintf("tags[%d]", i), "%q is not a Proxmox tag (letters, digits, _ - + .; not starting with - + .)", t)
		}
		if t != OwnerTag {
			tags[t] = true
		}
	}
	c.Tags = c.Tags[:0]
	for t := range tags {
		c.Tags = append(c.Tags, t)
	}
	sort.Strings(c.Tags)
	if len(c.Tags) == 0 {
		c.Tags = nil
	}
	if c.Cores == 0 {
		c.Cores = 1
	}
	if c.Cores < 1 || c.Cores > 8192 {
		p.Addf("cores", "must be between 1 and 8192, got %d", c.Cores)
	}
	p.Add(checkSize("memory", &c.Memory, memoryRule))
	if len(c.Networks) > 10 {
		p.Addf("networks", "at most 10 networks, got %d", len(c.Networks))
	}
	for i := range c.Networks {
		c.Networks[i].validate(fmt.Sprintf("networks[%d]", i), kind, i, p)
	}
	if c.Startup != nil && (c.Startup.Order < 0 || c.Startup.Up < 0 || c.Startup.Down < 0) {
		p.Addf("startup", "order, up and down must not be negative")
	}
	switch c.State {
	case "":
		c.State = "running"
	case "running", "stopped":
	default:
		p.Addf("state", "must be \"running\" or \"stopped\", got %q", c.State)
	}
	if c.Protect == nil {
		c.Protect = boolPtr(true)
	}
}

func (n *Network) validate(field, kind string, i int, p *steps.Problems) {
	if kind == KindLXC {
		if n.Model != "" {
			p.Addf(field+".model", "is for VMs; containers have veth interfaces")
		}
		if n.Name == "" {
			n.Name = "eth" + strconv.Itoa(i)
		}
		if !validIfname(n.Name) {
			p.Addf(field+".name", "%q is not an interface name", n.Name)
		}
	} else {
		if n.Name != "" {
			p.Addf(field+".name", "is for containers; a VM names its interfaces itself")
		}
		if n.Model == "" {
			n.Model = "virtio"
		}
		if !vmModels[n.Model] {
			p.Addf(field+".model", "unknown NIC model %q (virtio, e1000, e1000e, rtl8139, vmxnet3)", n.Model)
		}
	}
	switch {
	case n.Bridge == "":
		p.Addf(field+".bridge", "is required (e.g. vmbr0)")
	case !validIfname(n.Bridge):
		p.Addf(field+".bridge", "%q is not a bridge name", n.Bridge)
	}
	if n.VLAN != 0 && (n.VLAN < 1 || n.VLAN > 4094) {
		p.Addf(field+".vlan", "must be between 1 and 4094, got %d", n.VLAN)
	}
	var prefix netip.Prefix
	ipOK := true
	switch n.IP {
	case "", "dhcp", "manual":
	default:
		pf, err := netip.ParsePrefix(n.IP)
		if err != nil || !pf.Addr().Is4() {
			p.Addf(field+".ip", "want \"dhcp\", \"manual\" or an IPv4 address with prefix length like 10.42.0.101/24, got %q", n.IP)
			ipOK = false
		}
		prefix = pf
	}
	if n.Gateway != "" {
		gw, err := netip.ParseAddr(n.Gateway)
		switch {
		case err != nil || !gw.Is4():
			p.Addf(field+".gateway", "%q is not an IPv4 address", n.Gateway)
		case !ipOK:
			// the ip is reported; the gateway cannot be checked against it
		case !prefix.IsValid():
			p.Addf(field+".gateway", "needs a static ip (CIDR), not %q", n.IP)
		case !prefix.Masked().Contains(gw):
			p.Addf(field+".gateway", "%s is outside %s", gw, prefix.Masked())
		}
	}
	if n.MAC != "" {
		hw, err := net.ParseMAC(n.MAC)
		if err != nil || len(hw) != 6 || hw[0]&1 == 1 {
			p.Addf(field+".mac", "%q is not a unicast MAC address", n.MAC)
		} else {
			n.MAC = strings.ToUpper(hw.String())
		}
	}
}

func (s *LXCSpec) validate(p *steps.Problems) {
	s.Common.validate(KindLXC, p)
	switch {
	case s.OSTemplate == "":
		p.Addf("ostemplate", "is required, e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst")
	case !validTemplate(s.OSTemplate):
		p.Addf("ostemplate", "%q is not a template volume (STORAGE:vztmpl/FILE)", s.OSTemplate)
	}
	if s.Hostname != "" && !dnsNameRE.MatchString(s.Hostname) {
		p.Addf("hostname", "%q is not a DNS name", s.Hostname)
	}
	if s.Unprivileged == nil {
		s.Unprivileged = boolPtr(true)
	}
	if s.Features.Keyctl && !*s.Unprivileged {
		p.Addf("features.keyctl", "is only for unprivileged containers")
	}
	switch {
	case s.RootFS.Storage == "":
		p.Addf("rootfs.storage", "is required (e.g. local-lvm)")
	case !validStorage(s.RootFS.Storage):
		p.Addf("rootfs.storage", "%q is not a storage name", s.RootFS.Storage)
	}
	p.Add(checkSize("rootfs.size", &s.RootFS.Size, rootfsRule))
	paths := map[string]bool{}
	for i := range s.Mounts {
		m := &s.Mounts[i]
		f := fmt.Sprintf("mounts[%d]", i)
		switch {
		case !strings.HasPrefix(m.Path, "/") || m.Path == "/" || strings.ContainsAny(m.Path, ", "):
			p.Addf(f+".path", "want an absolute path other than / (no commas or spaces), got %q", m.Path)
		case paths[m.Path]:
			p.Addf(f+".path", "%s is mounted twice", m.Path)
		}
		paths[m.Path] = true
		if !validStorage(m.Storage) {
			p.Addf(f+".storage", "%q is not a storage name", m.Storage)
		}
		p.Add(checkSize(f+".size", &m.Size, diskRule))
	}
	if len(s.Mounts) > 10 {
		p.Addf("mounts", "at most 10 mounts, got %d", len(s.Mounts))
	}
	if s.Swap == nil {
		s.Swap = &Size{}
	}
	p.Add(checkSize("swap", s.Swap, swapRule))
	checkGuestInit("", "sshPublicKeys", s.SSHPublicKeys, s.Searchdomain, s.Nameserver, p)
}

// checkGuestInit checks what a guest is given at first boot: SSH keys (the
// field keysField), a search domain and a nameserver; prefix is the path of
// the object holding them ("" or "cloudInit.").
func checkGuestInit(prefix, keysField string, keys []string, searchdomain, nameserver string, p *steps.Problems) {
	for i, k := range keys {
		if strings.TrimSpace(k) == "" || strings.Contains(k, "\n") {
			p.Addf(fmt.Sprintf("%s%s[%d]", prefix, keysField, i), "want one key per entry, without newlines")
		}
	}
	if searchdomain != "" && !dnsNameRE.MatchString(searchdomain) {
		p.Addf(prefix+"searchdomain", "%q is not a DNS name", searchdomain)
	}
	if nameserver != "" {
		if _, err := netip.ParseAddr(nameserver); err != nil {
			p.Addf(prefix+"nameserver", "%q is not an IP address", nameserver)
		}
	}
}

func (s *VMSpec) validate(p *steps.Problems) {
	s.Common.validate(KindVM, p)
	t := s.Clone.Template
	switch {
	case t.VMID < 0:
		p.Addf("clone.template", "want a template VMID (number) or name (string)")
	case t.Name == "" && t.VMID == 0:
		p.Addf("clone.template", "is required: the VMID or name of the template to clone")
	case t.Name == "" && (t.VMID < 100 || t.VMID > 999999999):
		p.Addf("clone.template", "VMID must be between 100 and 999999999, got %d", t.VMID)
	case t.Name != "" && !dnsNameRE.MatchString(t.Name):
		p.Addf("clone.template", "%q is not a guest name", t.Name)
	}
	if s.Clone.Full == nil {
		s.Clone.Full = boolPtr(true)
	}
	if s.Clone.Storage != "" {
		switch {
		case !*s.Clone.Full:
			p.Addf("clone.storage", "only a full clone can choose its storage (set full: true or drop storage)")
		case !validStorage(s.Clone.Storage):
			p.Addf("clone.storage", "%q is not a storage name", s.Clone.Storage)
		}
	}
	if ci := s.CloudInit; ci != nil {
		checkGuestInit("cloudInit.", "sshKeys", ci.SSHKeys, ci.Searchdomain, ci.Nameserver, p)
	}
	slots := map[string]bool{}
	for i := range s.Disks {
		d := &s.Disks[i]
		f := fmt.Sprintf("disks[%d]", i)
		switch {
		case !slotRE.MatchString(d.Slot):
			p.Addf(f+".slot", "%q is not a disk slot (scsi0-30, virtio0-15, sata0-5)", d.Slot)
		case slots[d.Slot]:
			p.Addf(f+".slot", "%s is listed twice", d.Slot)
		}
		slots[d.Slot] = true
		if d.Storage != "" && !validStorage(d.Storage) {
			p.Addf(f+".storage", "%q is not a storage name", d.Storage)
		}
		p.Add(checkSize(f+".size", &d.Size, diskRule))
	}
}
