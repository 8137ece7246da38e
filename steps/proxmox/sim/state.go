package sim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	typeQemu = "qemu"
	typeLXC  = "lxc"
)

// state is everything the simulator persists (Snapshot/Restore). Exported
// fields are only for encoding/json.
type state struct {
	Nodes  map[string]*node  `json:"nodes"`
	Guests map[int]*guest    `json:"guests"`
	Pools  map[string]*pool  `json:"pools"`
	MACSeq uint64            `json:"macSeq"`
	Extra  map[string]string `json:"extra,omitempty"`
}

type node struct {
	Name     string              `json:"name"`
	CPUs     int                 `json:"cpus"`
	Memory   int64               `json:"memory"`
	Online   bool                `json:"online"`
	Storages map[string]*storage `json:"storages"`
	BootTime int64               `json:"bootTime"`
}

type storage struct {
	Name    string             `json:"name"`
	Type    string             `json:"type"`
	Content []string           `json:"content"`
	Total   int64              `json:"total"`
	Volumes map[string]*volume `json:"volumes"` // by volume name (the part after "storage:")
}

type volume struct {
	Content string `json:"content"` // images, rootdir, vztmpl, iso, backup
	Format  string `json:"format"`
	Size    int64  `json:"size"`
	VMID    int    `json:"vmid,omitempty"`
	Ctime   int64  `json:"ctime"`
}

type pool struct {
	Comment string `json:"comment,omitempty"`
}

// guest is a qemu VM or an LXC container. Config values are strings, as in
// the PVE config file; the API output types them by the schema.
type guest struct {
	VMID    int               `json:"vmid"`
	Type    string            `json:"type"`
	Node    string            `json:"node"`
	Conf    map[string]string `json:"conf"`
	Pending map[string]string `json:"pending,omitempty"`
	// PendingDelete are keys to delete at the next restart (value: force).
	PendingDelete map[string]bool `json:"pendingDelete,omitempty"`
	Running       bool            `json:"running"`
	StartedAt     int64           `json:"startedAt,omitempty"`
	Pool          string          `json:"pool,omitempty"`
	// CloudInit is the cloud-init configuration last baked into the
	// cloud-init drive (qemu; /cloudinit shows the difference).
	CloudInit map[string]string `json:"cloudInit,omitempty"`
}

func newState() *state {
	return &state{Nodes: map[string]*node{}, Guests: map[int]*guest{}, Pools: map[string]*pool{}}
}

func (g *guest) isTemplate() bool { return g.Conf["template"] == "1" }

func (g *guest) name() string {
	if g.Type == typeLXC {
		return g.Conf["hostname"]
	}
	return g.Conf["name"]
}

func (s *storage) has(content string) bool {
	for _, c := range s.Content {
		if c == content {
			return true
		}
	}
	return false
}

func (s *storage) used() int64 {
	var u int64
	for _, v := range s.Volumes {
		u += v.Size
	}
	return u
}

// ---- setup API --------------------------------------------------------------

// AddNode adds a cluster node with cpus cores and memBytes of RAM, online.
func (s *Server) AddNode(name string, cpus int, memBytes int64) error {
	if !nodeNameRE.MatchString(name) {
		return fmt.Errorf("add node %q: invalid node name", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Nodes[name]; ok {
		return fmt.Errorf("add node %q: already exists", name)
	}
	s.st.Nodes[name] = &node{Name: name, CPUs: cpus, Memory: memBytes, Online: true, Storages: map[string]*storage{}, BootTime: s.now().Add(-72 * time.Hour).Unix()}
	return nil
}

// SetNodeOnline marks a node online or offline; calls proxied to an offline
// node fail with 595 like pveproxy's.
func (s *Server) SetNodeOnline(name string, online bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.Nodes[name]
	if n == nil {
		return fmt.Errorf("set node %q online: no such node", name)
	}
	n.Online = online
	return nil
}

// AddStorage adds a storage to a node. typ is a PVE storage type (dir,
// lvmthin, zfspool, lvm, nfs...), content the content types it holds
// (images, rootdir, vztmpl, iso, backup, snippets).
func (s *Server) AddStorage(nodeName, name, typ string, content []string, sizeBytes int64) error {
	if !storeIDRE.MatchString(name) {
		return fmt.Errorf("add storage %q: invalid storage ID", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.Nodes[nodeName]
	if n == nil {
		return fmt.Errorf("add storage %q: no such node %q", name, nodeName)
	}
	if _, ok := n.Storages[name]; ok {
		return fmt.Errorf("add storage %q on %q: already exists", name, nodeName)
	}
	n.Storages[name] = &storage{Name: name, Type: typ, Content: append([]string(nil), content...), Total: sizeBytes, Volumes: map[string]*volume{}}
	return nil
}

// AddTemplate adds an LXC template (or ISO, with content "iso") file to a
// storage and returns its volume ID, e.g.
// "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".
func (s *Server) AddTemplate(nodeName, storageName, content, file string, sizeBytes int64) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.Nodes[nodeName]
	if n == nil {
		return "", fmt.Errorf("add template %q: no such node %q", file, nodeName)
	}
	st := n.Storages[storageName]
	if st == nil {
		return "", fmt.Errorf("add template %q: no storage %q on %q", file, storageName, nodeName)
	}
	if !st.has(content) {
		return "", fmt.Errorf("add template %q: storage %q does not hold %s", file, storageName, content)
	}
	format := "tzst"
	switch {
	case strings.HasSuffix(file, ".iso"):
		format = "iso"
	case strings.HasSuffix(file, ".tar.gz"):
		format = "tgz"
	case strings.HasSuffix(file, ".tar.xz"):
		format = "txz"
	}
	st.Volumes[content+"/"+file] = &volume{Content: content, Format: format, Size: sizeBytes, Ctime: s.now().Unix()}
	return storageName + ":" + content + "/" + file, nil
}

// GuestSpec describes a guest added with AddGuest.
type GuestSpec struct {
	Node string
	VMID int
	// Type is "qemu" or "lxc".
	Type string
	// Config holds config keys as PVE stores them, e.g. "memory": "2048",
	// "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0",
	// "scsi0": "local-lvm:vm-100-disk-0,size=32G", "template": "1".
	// Disks named in it are registered as volumes on their storage.
	Config map[string]string
	// Running starts the guest (templates never run).
	Running bool
	// Pool makes the guest a member of this pool (created if missing).
	Pool string
}

// AddGuest adds an existing guest, e.g. one the runner does not own or a VM
// template. Its config is taken as-is (no validation against the schema).
func (s *Server) AddGuest(spec GuestSpec) error {
	if spec.Type != typeQemu && spec.Type != typeLXC {
		return fmt.Errorf("add guest %d: type must be qemu or lxc, not %q", spec.VMID, spec.Type)
	}
	if spec.VMID < 100 || spec.VMID > 999999999 {
		return fmt.Errorf("add guest %d: VMID out of range", spec.VMID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.Nodes[spec.Node]
	if n == nil {
		return fmt.Errorf("add guest %d: no such node %q", spec.VMID, spec.Node)
	}
	if _, ok := s.st.Guests[spec.VMID]; ok {
		return fmt.Errorf("add guest %d: VMID in use", spec.VMID)
	}
	g := &guest{VMID: spec.VMID, Type: spec.Type, Node: spec.Node, Conf: map[string]string{}, Pool: spec.Pool}
	for k, v := range spec.Config {
		g.Conf[k] = v
	}
	for k, v := range g.Conf {
		if !isDiskKey(g.Type, k) {
			continue
		}
		volid, size := diskVolume(v)
		stName, volName, ok := strings.Cut(volid, ":")
		if !ok {
			continue
		}
		if st := n.Storages[stName]; st != nil && st.Volumes[volName] == nil {
			content := "images"
			if g.Type == typeLXC {
				content = "rootdir"
			}
			st.Volumes[volName] = &volume{Content: content, Format: volumeFormat(st, g.Type), Size: size, VMID: g.VMID, Ctime: s.now().Unix()}
		}
	}
	if spec.Pool != "" {
		if _, ok := s.st.Pools[spec.Pool]; !ok {
			s.st.Pools[spec.Pool] = &pool{}
		}
	}
	if spec.Running && !g.isTemplate() {
		g.Running = true
		g.StartedAt = s.now().Unix()
	}
	if g.Type == typeQemu {
		g.CloudInit = cloudInitView(g.Conf)
	}
	s.st.Guests[g.VMID] = g
	return nil
}

// GuestConfig returns a copy of a guest's current config (without pending
// changes) and whether it is running; ok is false if there is no such guest.
func (s *Server) GuestConfig(vmid int) (conf map[string]string, running bool, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.st.Guests[vmid]
	if g == nil {
		return nil, false, false
	}
	conf = make(map[string]string, len(g.Conf))
	for k, v := range g.Conf {
		conf[k] = v
	}
	return conf, g.Running, true
}

// Snapshot returns the simulator state (nodes, storages, volumes, guests,
// pools) as JSON. Tasks and request logs are not included.
func (s *Server) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return b, nil
}

// Restore replaces the simulator state with a Snapshot.
func (s *Server) Restore(b []byte) error {
	st := newState()
	if err := json.Unmarshal(b, st); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	for name, n := range st.Nodes {
		if n == nil || n.Name != name {
			return fmt.Errorf("restore: node %q is malformed", name)
		}
		if n.Storages == nil {
			n.Storages = map[string]*storage{}
		}
		for _, sto := range n.Storages {
			if sto.Volumes == nil {
				sto.Volumes = map[string]*volume{}
			}
		}
	}
	for id, g := range st.Guests {
		if g == nil || g.VMID != id || st.Nodes[g.Node] == nil || g.Conf == nil {
			return fmt.Errorf("restore: guest %d is malformed", id)
		}
	}
	if st.Pools == nil {
		st.Pools = map[string]*pool{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
	return nil
}

// ---- config helpers ---------------------------------------------------------

var (
	qemuDiskKeyRE = regexp.MustCompile(`^(ide|sata|scsi|virtio|efidisk|tpmstate)\d+$`)
	lxcDiskKeyRE  = regexp.MustCompile(`^(rootfs|mp\d+)$`)
)

func isDiskKey(typ, k string) bool {
	if typ == typeLXC {
		return lxcDiskKeyRE.MatchString(k)
	}
	return qemuDiskKeyRE.MatchString(k)
}

// diskVolume returns the volume ID and size in bytes of a disk value such as
// "local-lvm:vm-100-disk-0,size=32G".
// findVolume finds the volume a volume ID ("storage:name") names on n: its
// storage, its name there and the volume; the volume is nil when n has none.
func (n *node) findVolume(volid string) (st *storage, name string, vol *volume) {
	stName, name, ok := strings.Cut(volid, ":")
	if st = n.Storages[stName]; !ok || st == nil {
		return nil, name, nil
	}
	return st, name, st.Volumes[name]
}

func diskVolume(v string) (string, int64) {
	parts := strings.Split(v, ",")
	volid := parts[0]
	if k, val, ok := strings.Cut(volid, "="); ok && (k == "file" || k == "volume") {
		volid = val
	}
	var size int64
	for _, p := range parts[1:] {
		if k, val, ok := strings.Cut(p, "="); ok {
			switch k {
			case "size":
				size, _ = parseSize(val)
			case "file", "volume":
				volid = val
			}
		}
	}
	return volid, size
}

// parseSize is JSONSchema.pm parse_size.
func parseSize(v string) (int64, bool) {
	m := sizeRE.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return scaleSize(f, strings.TrimSuffix(m[3], "iB")), true
}

// scaleSize returns f units (K, M, G, T: binary multiples; "" = bytes) in bytes.
func scaleSize(f float64, unit string) int64 {
	switch unit {
	case "K":
		f *= 1 << 10
	case "M":
		f *= 1 << 20
	case "G":
		f *= 1 << 30
	case "T":
		f *= 1 << 40
	}
	return int64(f)
}

// formatSize prints a size as PVE does in disk strings (PVE::JSONSchema::format_size).
func formatSize(b int64) string {
	units := []struct {
		suffix string
		n      int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}}
	for _, u := range units {
		if b >= u.n && b%u.n == 0 {
			return strconv.FormatInt(b/u.n, 10) + u.suffix
		}
	}
	if b%(1<<10) == 0 {
		return strconv.FormatInt(b/(1<<10), 10) + "K"
	}
	return strconv.FormatInt(b, 10)
}

// setDiskSize rewrites the size= of a disk value.
func setDiskSize(v string, size int64) string {
	parts := strings.Split(v, ",")
	found := false
	for i, p := range parts {
		if strings.HasPrefix(p, "size=") {
			parts[i] = "size=" + formatSize(size)
			found = true
		}
	}
	if !found {
		parts = append(parts, "size="+formatSize(size))
	}
	return strings.Join(parts, ",")
}

func volumeFormat(st *storage, typ string) string {
	switch st.Type {
	case "dir", "nfs", "cifs":
		if typ == typeQemu {
			return "qcow2"
		}
		return "raw"
	case "zfspool":
		if typ == typeLXC {
			return "subvol"
		}
	}
	return "raw"
}

// newVolumeName picks the next free disk name for vmid on a storage
// (PVE::Storage::Plugin find_free_diskname naming).
func newVolumeName(st *storage, typ string, vmid int, prefix string) string {
	if prefix == "" {
		prefix = "vm"
		if typ == typeLXC && st.Type == "zfspool" {
			prefix = "subvol"
		}
	}
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s-%d-disk-%d", prefix, vmid, i)
		switch st.Type {
		case "dir", "nfs", "cifs":
			name = fmt.Sprintf("%d/%s.%s", vmid, name, volumeFormat(st, typ))
		}
		if st.Volumes[name] == nil && !baseNameTaken(st, vmid, i) {
			return name
		}
	}
}

func baseNameTaken(st *storage, vmid, i int) bool {
	for name := range st.Volumes {
		if strings.Contains(name, fmt.Sprintf("-%d-disk-%d", vmid, i)) {
			return true
		}
	}
	return false
}

// cloudInitKeys are qemu-server's $confdesc_cloudinit options.
var cloudInitKeys = map[string]bool{
	"cicustom": true, "cipassword": true, "citype": true, "ciupgrade": true, "ciuser": true,
	"nameserver": true, "searchdomain": true, "sshkeys": true,
}

func isCloudInitKey(k string) bool {
	return cloudInitKeys[k] || strings.HasPrefix(k, "ipconfig")
}

func cloudInitView(conf map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range conf {
		if isCloudInitKey(k) {
			out[k] = v
		}
	}
	return out
}

// memoryMiB returns a guest's memory in MiB (qemu: "[current=]<int>").
func memoryMiB(conf map[string]string) int64 {
	v := conf["memory"]
	if v == "" {
		return 512
	}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimPrefix(p, "current=")
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			return n
		}
	}
	return 512
}

func atoiDefault(v string, d int) int {
	if n, err := strconv.Atoi(v); err == nil {
		return n
	}
	return d
}
