package sim

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// What the guest handlers (guests_*.go) share: finding the guest of a
// request (withGuest), guest tasks, lock checks, MACs and disk allocation.

func typeWord(typ string) string {
	if typ == typeLXC {
		return "CT"
	}
	return "VM"
}

func configPath(typ, node string, vmid int) string {
	if typ == typeLXC {
		return fmt.Sprintf("nodes/%s/lxc/%d.conf", node, vmid)
	}
	return fmt.Sprintf("nodes/%s/qemu-server/%d.conf", node, vmid)
}

// textError is an error with PVE's exact message (which may start with a
// capital letter or end with punctuation, unlike Go error strings).
type textError string

func (e textError) Error() string { return string(e) }

func pveErrorf(format string, a ...any) error { return textError(fmt.Sprintf(format, a...)) }

// guestAt returns the guest of the URL, or PVE's load_config error
// (AbstractConfig: "Configuration file '...' does not exist"). Call with s.mu held.
func (s *Server) guestAt(c *call, typ string) (*guest, *apiError) {
	vmid, _ := strconv.Atoi(c.vars["vmid"])
	g := s.st.Guests[vmid]
	if g == nil || g.Type != typ || g.Node != c.vars["node"] {
		return nil, fail("Configuration file '%s' does not exist", configPath(typ, c.vars["node"], vmid))
	}
	return g, nil
}

// withFound adapts h to a handlerFunc: it takes s.mu, finds the object of
// the request's URL with find (a guest, storage or task) and passes it to h,
// or answers find's error (PVE's "does not exist" for that object).
func withFound[T any](find func(s *Server, c *call) (T, *apiError), h func(s *Server, c *call, x T) (any, *apiError)) handlerFunc {
	return func(s *Server, c *call) (any, *apiError) {
		s.mu.Lock()
		defer s.mu.Unlock()
		x, e := find(s, c)
		if e != nil {
			return nil, e
		}
		return h(s, c, x)
	}
}

// withGuest is withFound for the guest of type typ in the URL.
func withGuest(typ string, h func(s *Server, c *call, g *guest) (any, *apiError)) handlerFunc {
	return withFound(func(s *Server, c *call) (*guest, *apiError) { return s.guestAt(c, typ) }, h)
}

// startGuestTask starts a task of type kind that holds g's config lock and
// runs effect on the guest as it is when the task runs. The task fails with
// load_config's error when the guest is gone by then and, when checkLocked,
// with check_lock's when its config is locked (a "lock:" key; skiplock=1
// turns that off). Call with s.mu held; it returns the UPID.
func (s *Server) startGuestTask(c *call, g *guest, kind string, checkLocked bool, effect func(t *task, g *guest) (int, error)) string {
	vmid, typ, node := g.VMID, g.Type, c.vars["node"]
	return s.startTask(g.Node, kind, strconv.Itoa(vmid), c.user, []lockSpec{{vmid: vmid, typ: typ}}, func(t *task) (int, error) {
		g := s.st.Guests[vmid]
		if g == nil {
			return 0, pveErrorf("Configuration file '%s' does not exist", configPath(typ, node, vmid))
		}
		if checkLocked {
			if err := checkLock(g); err != nil {
				return 0, err
			}
		}
		return effect(t, g)
	})
}

// taskPrefix is the task type prefix of a guest type: "vz" (vzstart,
// vzdestroy...) for containers, "qm" for VMs.
func taskPrefix(typ string) string {
	if typ == typeLXC {
		return "vz"
	}
	return "qm"
}

// checkLock is AbstractConfig check_lock: "VM is locked (create)".
func checkLock(g *guest) error {
	if l := g.Conf["lock"]; l != "" {
		return fmt.Errorf("%s is locked (%s)", typeWord(g.Type), l)
	}
	return nil
}

// vmidInUse is PVE::Cluster::check_vmid_unused.
func (s *Server) vmidInUse(vmid int) error {
	if g := s.st.Guests[vmid]; g != nil {
		return fmt.Errorf("%s %d already exists on node '%s'", typeWord(g.Type), vmid, g.Node)
	}
	return nil
}

// randomMAC returns a MAC with Proxmox's default prefix BC:24:11
// (datacenter.cfg mac_prefix default, qemu-server Network.pm add_random_macs).
func (s *Server) randomMAC() string {
	s.st.MACSeq++
	x := s.st.MACSeq*2654435761 + s.opts.Seed
	return fmt.Sprintf("BC:24:11:%02X:%02X:%02X", x>>16&0xff, x>>8&0xff, x&0xff)
}

var qemuNICModels = map[string]bool{
	"e1000": true, "e1000-82540em": true, "e1000-82544gc": true, "e1000-82545em": true, "e1000e": true,
	"i82551": true, "i82557b": true, "i82559er": true, "ne2k_isa": true, "ne2k_pci": true, "pcnet": true,
	"rtl8139": true, "virtio": true, "vmxnet3": true,
}

// withMAC adds a generated MAC to a net[n] value that has none.
func (s *Server) withMAC(typ, v string) string {
	parts := strings.Split(v, ",")
	if typ == typeLXC {
		for _, p := range parts {
			if strings.HasPrefix(p, "hwaddr=") {
				return v
			}
		}
		out := append([]string{}, parts...)
		out = append(out, "hwaddr="+s.randomMAC())
		hasType := false
		for _, p := range parts {
			hasType = hasType || strings.HasPrefix(p, "type=")
		}
		if !hasType {
			out = append(out, "type=veth")
		}
		return strings.Join(out, ",")
	}
	for i, p := range parts {
		k, val, hasVal := strings.Cut(p, "=")
		if k == "model" {
			k, hasVal, val = val, false, ""
		}
		if qemuNICModels[k] {
			if hasVal && val != "" {
				return v
			}
			parts[i] = k + "=" + s.randomMAC()
			return strings.Join(parts, ",")
		}
		if k == "macaddr" {
			return v
		}
	}
	return v
}

var allocRE = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]):(\d+(\.\d+)?)$`)

// allocDisk turns "STORAGE:SIZE_GiB[,opts]" (and qemu "STORAGE:cloudinit")
// into a new volume and returns the stored value. Other values (existing
// volumes, "none", ISO images) are returned unchanged. Call with s.mu held.
func (s *Server) allocDisk(n *node, typ string, vmid int, key, v string) (string, error) {
	head, rest, _ := strings.Cut(v, ",")
	if k, val, ok := strings.Cut(head, "="); ok && (k == "file" || k == "volume") {
		head = val
	}
	stName, what, ok := strings.Cut(head, ":")
	if !ok {
		return v, nil
	}
	isCloudInit := typ == typeQemu && what == "cloudinit"
	if !allocRE.MatchString(head) && !isCloudInit {
		return v, nil
	}
	st := n.Storages[stName]
	if st == nil {
		return "", fmt.Errorf("storage '%s' does not exist", stName)
	}
	content := "images"
	if typ == typeLXC {
		content = "rootdir"
	}
	if !st.has(content) {
		if typ == typeLXC {
			return "", fmt.Errorf("storage '%s' does not support container directories", stName)
		}
		return "", fmt.Errorf("storage '%s' does not support vm images", stName)
	}
	var size int64
	var name string
	opts := rest
	if isCloudInit {
		size = 4 << 20
		name = fmt.Sprintf("vm-%d-cloudinit", vmid)
		if st.Type == "dir" || st.Type == "nfs" || st.Type == "cifs" {
			name = fmt.Sprintf("%d/vm-%d-cloudinit.qcow2", vmid, vmid)
		}
		if !strings.Contains(opts, "media=cdrom") {
			opts = strings.TrimPrefix(opts+",media=cdrom", ",")
		}
	} else {
		gib, _ := strconv.ParseFloat(what, 64)
		size = int64(gib * (1 << 30))
		if strings.Contains(rest, "import-from=") {
			size = s.importSize(n, rest)
			opts = stripOpt(opts, "import-from")
		}
		name = newVolumeName(st, typ, vmid, "")
	}
	if avail := st.Total - st.used(); size > avail {
		return "", fmt.Errorf("unable to allocate %s on storage '%s': not enough free space (requested %d bytes, available %d bytes)", key, stName, size, avail)
	}
	st.Volumes[name] = &volume{Content: content, Format: volumeFormat(st, typ), Size: size, VMID: vmid, Ctime: s.now().Unix()}
	out := stName + ":" + name
	if opts != "" {
		out += "," + opts
	}
	if !isCloudInit {
		out = setDiskSize(out, size)
	}
	return out, nil
}

// isBaseVolume reports whether a volume is a template's base volume
// ("base-9000-disk-0", zfs subvolumes "basevol-…", dir "9000/base-…").
func isBaseVolume(name string) bool {
	_, file, ok := strings.Cut(name, "/")
	if !ok {
		file = name
	}
	return strings.HasPrefix(file, "base-") || strings.HasPrefix(file, "basevol-")
}

func stripOpt(opts, key string) string {
	var keep []string
	for _, p := range strings.Split(opts, ",") {
		if p != "" && !strings.HasPrefix(p, key+"=") {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ",")
}

func (s *Server) importSize(n *node, opts string) int64 {
	for _, p := range strings.Split(opts, ",") {
		if src, ok := strings.CutPrefix(p, "import-from="); ok {
			stName, vol, _ := strings.Cut(src, ":")
			if st := n.Storages[stName]; st != nil {
				if v := st.Volumes[vol]; v != nil {
					return v.Size
				}
			}
		}
	}
	return 2 << 30
}

// freeVolumes deletes the volumes a config references. Call with s.mu held.
func (s *Server) freeVolumes(g *guest, conf map[string]string) error {
	n := s.st.Nodes[g.Node]
	for k, v := range conf {
		if !isDiskKey(g.Type, k) && !strings.HasPrefix(k, "unused") {
			continue
		}
		volid, _ := diskVolume(v)
		st, vol, found := n.findVolume(volid)
		if found == nil {
			continue
		}
		if isBaseVolume(vol) {
			for other := range st.Volumes {
				if strings.HasPrefix(other, vol+"/") {
					return fmt.Errorf("base volume '%s' is still in use by linked cloned", volid)
				}
			}
		}
		delete(st.Volumes, vol)
	}
	return nil
}
