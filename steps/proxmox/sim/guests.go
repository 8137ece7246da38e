package sim

import (
	"crypto/sha1" //nolint:gosec // PVE's config digest is SHA1 (schema: "SHA1 digest of configuration file").
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

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

// guestHandler handles a request for the guest of its URL; it runs with
// s.mu held.
type guestHandler func(s *Server, c *call, g *guest) (any, *apiError)

// withGuest adapts h to a handlerFunc: it takes s.mu and finds the guest
// of the URL of type typ, answering PVE's load_config error when there is
// none.
func withGuest(typ string, h guestHandler) handlerFunc {
	return func(s *Server, c *call) (any, *apiError) {
		s.mu.Lock()
		defer s.mu.Unlock()
		g, e := s.guestAt(c, typ)
		if e != nil {
			return nil, e
		}
		return h(s, c, g)
	}
}

// startGuestTask starts a task of type kind that holds g's config lock and
// runs effect on the guest as it is when the task runs. The task fails with
// load_config's error when the guest is gone by then and, when checkLocked,
// with check_lock's when its config is locked (a "lock:" key; skiplock=1
// turns that off). Call with s.mu held; it returns the UPID.
func (s *Server) startGuestTask(c *call, g *guest, kind string, checkLocked bool, effect func(t *task, g *guest) (int, error)) string {
	vmid, typ, node := g.VMID, g.Type, c.vars["node"]
	return s.startTask(g.Node, kind, strconv.Itoa(vmid), "", []lockSpec{{vmid: vmid, typ: typ}}, func(t *task) (int, error) {
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
		stName, vol, ok := strings.Cut(volid, ":")
		if !ok {
			continue
		}
		st := n.Storages[stName]
		if st == nil || st.Volumes[vol] == nil {
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

// ---- config output ------------------------------------------------------------

// typedValue converts a stored config string to the JSON type the schema
// declares: PVE's check_type returns int() for integers and 0/1 for booleans,
// so config GET sends numbers for them (go-proxmox decodes e.g. cores into int).
func typedValue(p *prop, v string) any {
	if p == nil {
		return v
	}
	switch p.Type {
	case "integer":
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	case "boolean":
		if b, ok := parseBoolean(v); ok {
			if b == "1" {
				return 1
			}
			return 0
		}
	case "number":
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return v
}

func (s *Server) configGetInfo(typ string) *methodInfo {
	return s.schema.routes["/nodes/{node}/"+typ+"/{vmid}/config"].methods["GET"]
}

// digest is the SHA1 of the config as PVE would write it.
func digest(g *guest) string {
	var b strings.Builder
	for _, k := range sortedKeys(g.Conf) {
		b.WriteString(k + ": " + g.Conf[k] + "\n")
	}
	if len(g.Pending) > 0 || len(g.PendingDelete) > 0 {
		b.WriteString("[PENDING]\n")
		for _, k := range sortedKeys(g.Pending) {
			b.WriteString(k + ": " + g.Pending[k] + "\n")
		}
		for _, k := range sortedKeys(g.PendingDelete) {
			b.WriteString("delete: " + k + "\n")
		}
	}
	sum := sha1.Sum([]byte(b.String())) //nolint:gosec // see import
	return hex.EncodeToString(sum[:])
}

func hConfigGet(typ string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, g *guest) (any, *apiError) {
		if c.has("snapshot") && c.params["snapshot"] != "" {
			return nil, fail("snapshot '%s' does not exist", c.params["snapshot"])
		}
		// AbstractConfig load_current_config: pending values are shown
		// unless current=1.
		conf := map[string]string{}
		for k, v := range g.Conf {
			conf[k] = v
		}
		if !c.bool("current") {
			for k, v := range g.Pending {
				conf[k] = v
			}
			for k := range g.PendingDelete {
				delete(conf, k)
			}
		}
		out := map[string]any{"digest": digest(g)}
		for k, v := range conf {
			out[k] = typedValue(c.info.returnProp(k), v)
		}
		return out, nil
	})
}

// hPending is GuestHelpers config_with_pending_array.
func hPending(typ string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, g *guest) (any, *apiError) {
		gi := s.configGetInfo(typ)
		out := []map[string]any{}
		for _, k := range sortedKeys(g.Conf) {
			item := map[string]any{"key": k, "value": typedValue(gi.returnProp(k), g.Conf[k])}
			if p, ok := g.Pending[k]; ok {
				item["pending"] = typedValue(gi.returnProp(k), p)
			}
			if force, ok := g.PendingDelete[k]; ok {
				item["delete"] = deleteFlag(force)
			}
			out = append(out, item)
		}
		for _, k := range sortedKeys(g.Pending) {
			if _, ok := g.Conf[k]; !ok {
				out = append(out, map[string]any{"key": k, "pending": typedValue(gi.returnProp(k), g.Pending[k])})
			}
		}
		for _, k := range sortedKeys(g.PendingDelete) {
			if _, ok := g.Conf[k]; !ok {
				out = append(out, map[string]any{"key": k, "delete": deleteFlag(g.PendingDelete[k])})
			}
		}
		return out, nil
	})
}

func deleteFlag(force bool) int {
	if force {
		return 2
	}
	return 1
}

// ---- config update -------------------------------------------------------------

// updateParams are the non-config parameters of the config update methods.
var updateParams = map[string]bool{
	"node": true, "vmid": true, "digest": true, "delete": true, "revert": true,
	"skiplock": true, "force": true, "background_delay": true,
}

// hotpluggable reports whether a changed key of a running guest takes effect
// at once. qemu: qemu-server QemuServer.pm $fast_plug_option (plus the
// cloud-init options) and vmconfig_hotplug_pending for the hotplug features;
// lxc: pve-container LXC/Config.pm $LXC_FASTPLUG_OPTIONS and its
// vmconfig_hotplug_pending (cpulimit, cpuunits, memory, swap, net, new mp).
func hotpluggable(g *guest, k string, deleting bool) bool {
	if g.Type == typeLXC {
		switch k {
		case "description", "onboot", "startup", "protection", "hostname", "hookscript", "cores", "tags", "lock",
			"cpulimit", "cpuunits", "memory", "swap":
			return true
		}
		if strings.HasPrefix(k, "net") || strings.HasPrefix(k, "unused") {
			return true
		}
		if strings.HasPrefix(k, "mp") || strings.HasPrefix(k, "dev") {
			_, exists := g.Conf[k]
			return !exists && !deleting
		}
		return false
	}
	switch k {
	case "description", "hookscript", "lock", "migrate_downtime", "migrate_speed", "name", "onboot",
		"protection", "shares", "startup", "tags", "vmstatestorage":
		return true
	}
	if isCloudInitKey(k) {
		return true
	}
	hotplug := g.Conf["hotplug"]
	if hotplug == "" {
		hotplug = "network,disk,usb"
	}
	has := func(f string) bool {
		if hotplug == "1" {
			return f != "cpu" && f != "memory"
		}
		for _, x := range strings.Split(hotplug, ",") {
			if x == f {
				return true
			}
		}
		return false
	}
	switch {
	case strings.HasPrefix(k, "net"):
		return has("network")
	case k == "vcpus":
		return has("cpu")
	case k == "memory" || k == "balloon":
		return has("memory")
	case strings.HasPrefix(k, "usb"):
		return has("usb")
	case strings.HasPrefix(k, "unused"):
		return true
	case qemuDiskKeyRE.MatchString(k) && !strings.HasPrefix(k, "ide") && !strings.HasPrefix(k, "efidisk") && !strings.HasPrefix(k, "tpmstate"):
		return has("disk")
	}
	return false
}

// applyUpdate writes a config update the way update_vm_api /
// update_pct_config do: every change goes to [PENDING], then a stopped
// guest applies everything and a running one the hot-pluggable part.
// Call with s.mu held.
func (s *Server) applyUpdate(g *guest, c *call) error {
	if !c.bool("skiplock") {
		if err := checkLock(g); err != nil {
			return err
		}
	}
	if d := c.params["digest"]; d != "" && d != digest(g) {
		// PVE::Tools::assert_if_modified
		return pveErrorf("detected modified configuration - file changed by other user? Try again.")
	}
	n := s.st.Nodes[g.Node]
	force := c.bool("force")
	for _, k := range splitList(c.params["revert"]) {
		delete(g.Pending, k)
		delete(g.PendingDelete, k)
	}
	for _, k := range splitList(c.params["delete"]) {
		if g.Conf["protection"] == "1" && k != "protection" && isDiskKey(g.Type, k) {
			return fmt.Errorf("can't remove drive '%s': protection mode enabled", k)
		}
		if g.PendingDelete == nil {
			g.PendingDelete = map[string]bool{}
		}
		delete(g.Pending, k)
		if _, ok := g.Conf[k]; ok {
			g.PendingDelete[k] = force
		}
	}
	for _, k := range sortedKeys(c.params) {
		if updateParams[k] {
			continue
		}
		v := c.params[k]
		if strings.HasPrefix(k, "net") {
			v = s.withMAC(g.Type, v)
		}
		if isDiskKey(g.Type, k) {
			nv, err := s.allocDisk(n, g.Type, g.VMID, k, v)
			if err != nil {
				return err
			}
			v = nv
		}
		if g.Pending == nil {
			g.Pending = map[string]string{}
		}
		g.Pending[k] = v
		delete(g.PendingDelete, k)
	}
	cleanupPending(g)
	if !g.Running {
		return s.applyPending(g, nil)
	}
	return s.applyPending(g, func(k string, deleting bool) bool { return hotpluggable(g, k, deleting) })
}

// cleanupPending drops pending values equal to the current ones and pending
// deletes of absent keys (AbstractConfig cleanup_pending), so re-applying an
// unchanged config leaves nothing pending.
func cleanupPending(g *guest) {
	for k, v := range g.Pending {
		if cur, ok := g.Conf[k]; ok && cur == v {
			delete(g.Pending, k)
		}
	}
	for k := range g.PendingDelete {
		if _, ok := g.Conf[k]; !ok {
			delete(g.PendingDelete, k)
		}
	}
}

// applyPending moves pending changes into the config; sel selects keys
// (nil = all). A replaced or deleted disk's volume becomes unusedN like PVE.
func (s *Server) applyPending(g *guest, sel func(k string, deleting bool) bool) error {
	for _, k := range sortedKeys(g.PendingDelete) {
		if sel != nil && !sel(k, true) {
			continue
		}
		old, ok := g.Conf[k]
		delete(g.Conf, k)
		delete(g.PendingDelete, k)
		if ok && isDiskKey(g.Type, k) {
			s.keepUnused(g, old)
		}
		if ok && strings.HasPrefix(k, "unused") {
			if err := s.freeVolumes(g, map[string]string{k: old}); err != nil {
				return err
			}
		}
	}
	for _, k := range sortedKeys(g.Pending) {
		if sel != nil && !sel(k, false) {
			continue
		}
		old, ok := g.Conf[k]
		g.Conf[k] = g.Pending[k]
		delete(g.Pending, k)
		if ok && isDiskKey(g.Type, k) {
			oldVol, _ := diskVolume(old)
			newVol, _ := diskVolume(g.Conf[k])
			if oldVol != newVol {
				s.keepUnused(g, old)
			}
		}
	}
	if len(g.Pending) == 0 {
		g.Pending = nil
	}
	if len(g.PendingDelete) == 0 {
		g.PendingDelete = nil
	}
	return nil
}

// keepUnused records a detached volume as unusedN (AbstractConfig add_unused_volume).
func (s *Server) keepUnused(g *guest, old string) {
	volid, _ := diskVolume(old)
	if !strings.Contains(volid, ":") || strings.Contains(old, "media=cdrom") {
		return
	}
	for i := 0; i < 256; i++ {
		k := fmt.Sprintf("unused%d", i)
		if _, ok := g.Conf[k]; !ok {
			g.Conf[k] = volid
			return
		}
	}
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\x00' })
}

// checkUpdateParams rejects setting and deleting a key at once
// (qemu-server API2/Qemu.pm update_vm_api).
func checkUpdateParams(c *call) *apiError {
	for _, k := range splitList(c.params["delete"]) {
		if _, ok := c.params[k]; ok && !updateParams[k] {
			return paramErr(map[string]string{"delete": fmt.Sprintf("you can't use '-%s' and -delete %s' at the same time", k, k)})
		}
		if !configIDRE.MatchString(k) {
			return paramErr(map[string]string{"delete": fmt.Sprintf("invalid configuration ID '%s'", k)})
		}
	}
	return nil
}

// hConfigUpdateSync is PUT .../config: the lock is taken in the API call,
// so a busy guest answers HTTP 500 with the lock-timeout message.
func hConfigUpdateSync(typ string) handlerFunc {
	return func(s *Server, c *call) (any, *apiError) {
		if e := checkUpdateParams(c); e != nil {
			return nil, e
		}
		vmid, _ := strconv.Atoi(c.vars["vmid"])
		s.mu.Lock()
		_, e := s.guestAt(c, typ)
		s.mu.Unlock()
		if e != nil {
			return nil, e
		}
		l := s.guestLock(vmid)
		if !l.acquire(s.ctx, false, s.opts.LockTimeout) {
			return nil, fail("%s", lockTimeoutMessage(typ, vmid))
		}
		defer l.release(false)
		s.mu.Lock()
		defer s.mu.Unlock()
		g, e := s.guestAt(c, typ)
		if e != nil {
			return nil, e
		}
		if err := s.applyUpdate(g, c); err != nil {
			return nil, fail("%s", err.Error())
		}
		return nil, nil
	}
}

// hConfigUpdateAsync is POST /qemu/{vmid}/config (update_vm_async): a
// qmconfig task; with background_delay the call waits up to that many
// seconds and answers null when the task finished in time.
func hConfigUpdateAsync(s *Server, c *call) (any, *apiError) {
	if e := checkUpdateParams(c); e != nil {
		return nil, e
	}
	s.mu.Lock()
	g, e := s.guestAt(c, typeQemu)
	var upid string
	if e == nil {
		upid = s.startGuestTask(c, g, "qmconfig", false, func(t *task, g *guest) (int, error) {
			t.logf("update VM %d: %s", g.VMID, describeParams(c.params))
			return 0, s.applyUpdate(g, c)
		})
	}
	s.mu.Unlock()
	if e != nil {
		return nil, e
	}
	if c.has("background_delay") {
		deadline := time.Now().Add(time.Duration(c.int("background_delay")) * time.Second)
		for time.Now().Before(deadline) {
			s.mu.Lock()
			t := s.tasks[upid]
			done, ok := !t.running, t.exitstatus == "OK"
			s.mu.Unlock()
			if done {
				if ok {
					return nil, nil
				}
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return upid, nil
}

func describeParams(p map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(p) {
		if updateParams[k] && k != "delete" {
			continue
		}
		v := p[k]
		if secretParams[k] {
			v = "<hidden>"
		}
		parts = append(parts, "-"+k+" "+v)
	}
	return strings.Join(parts, " ")
}

// ---- create -------------------------------------------------------------------

// lxcCreateOnly are create parameters that are not stored in the config.
var lxcCreateOnly = map[string]bool{
	"node": true, "vmid": true, "ostemplate": true, "password": true, "ssh-public-keys": true, "storage": true,
	"start": true, "pool": true, "force": true, "restore": true, "unique": true, "ignore-unpack-errors": true,
	"bwlimit": true, "ha-managed": true,
}

var ostypeRE = regexp.MustCompile(`^(debian|devuan|ubuntu|centos|fedora|opensuse|archlinux|alpine|gentoo|nixos)`)

// hLXCCreate is pve-container API2/LXC.pm create_vm: the config is created
// and locked ("lock: create") in the API call, so a VMID collision is an
// HTTP 500; allocation and extraction run in a vzcreate task.
func hLXCCreate(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vmid := c.int("vmid")
	nodeName := c.vars["node"]
	n := s.st.Nodes[nodeName]
	if err := s.vmidInUse(vmid); err != nil {
		return nil, fail("unable to create CT %d - %s", vmid, err)
	}
	tmpl := c.params["ostemplate"]
	tmplStore, tmplVol, _ := strings.Cut(tmpl, ":")
	if st := n.Storages[tmplStore]; st == nil || st.Volumes[tmplVol] == nil || st.Volumes[tmplVol].Content != "vztmpl" {
		return nil, fail("volume '%s' does not exist", tmpl)
	}
	if p := c.params["pool"]; p != "" && s.st.Pools[p] == nil {
		return nil, fail("pool '%s' does not exist", p)
	}
	storageName := c.params["storage"]
	if storageName == "" {
		storageName = "local"
	}
	g := &guest{VMID: vmid, Type: typeLXC, Node: nodeName, Conf: map[string]string{"lock": "create"}, Pool: c.params["pool"]}
	s.st.Guests[vmid] = g
	params := c.params
	upid := s.startTask(nodeName, "vzcreate", strconv.Itoa(vmid), "", []lockSpec{{vmid: vmid, typ: typeLXC}}, func(t *task) (int, error) {
		err := s.lxcCreateEffect(t, g, params, storageName)
		if err != nil {
			_ = s.freeVolumes(g, g.Conf)
			delete(s.st.Guests, vmid)
			return 0, fmt.Errorf("unable to create CT %d - %w", vmid, err)
		}
		if params["start"] == "1" {
			return autostart(t, s.startGuest(t, g)), nil
		}
		return 0, nil
	})
	return upid, nil
}

func (s *Server) lxcCreateEffect(t *task, g *guest, p map[string]string, storageName string) error {
	n := s.st.Nodes[g.Node]
	conf := map[string]string{"arch": "amd64", "memory": "512", "swap": "512", "unprivileged": "1"}
	_, file, _ := strings.Cut(p["ostemplate"], "/")
	conf["ostype"] = "unmanaged"
	if m := ostypeRE.FindString(file); m != "" {
		conf["ostype"] = m
	}
	conf["hostname"] = fmt.Sprintf("CT%d", g.VMID)
	for k, v := range p {
		if lxcCreateOnly[k] {
			continue
		}
		conf[k] = v
	}
	if _, ok := conf["rootfs"]; !ok {
		conf["rootfs"] = storageName + ":4" // pve-container: defaults to 4GB
	}
	t.logf("extracting archive '%s'", p["ostemplate"])
	for _, k := range sortedKeys(conf) {
		v := conf[k]
		if strings.HasPrefix(k, "net") {
			conf[k] = s.withMAC(typeLXC, v)
		}
		if isDiskKey(typeLXC, k) {
			nv, err := s.allocDisk(n, typeLXC, g.VMID, k, v)
			if err != nil {
				return err
			}
			conf[k] = nv
		}
	}
	g.Conf = conf
	if p["pool"] != "" {
		if _, ok := s.st.Pools[p["pool"]]; !ok {
			s.st.Pools[p["pool"]] = &pool{}
		}
	}
	t.logf("Total bytes written: %d", memoryMiB(conf)<<20)
	return nil
}

// qemuCreateOnly are create parameters that are not stored in the config.
var qemuCreateOnly = map[string]bool{
	"node": true, "vmid": true, "start": true, "pool": true, "storage": true, "archive": true, "force": true,
	"unique": true, "live-restore": true, "import-working-storage": true, "bwlimit": true, "ha-managed": true,
}

// hQemuCreate is qemu-server API2/Qemu.pm create_vm: MACs are added and the
// config locked in the API call; disks are allocated in a qmcreate task.
func hQemuCreate(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vmid := c.int("vmid")
	nodeName := c.vars["node"]
	n := s.st.Nodes[nodeName]
	if err := s.vmidInUse(vmid); err != nil {
		return nil, fail("unable to create VM %d - %s", vmid, err)
	}
	if p := c.params["pool"]; p != "" && s.st.Pools[p] == nil {
		return nil, fail("pool '%s' does not exist", p)
	}
	conf := map[string]string{}
	for k, v := range c.params {
		if qemuCreateOnly[k] {
			continue
		}
		if strings.HasPrefix(k, "net") {
			v = s.withMAC(typeQemu, v)
		}
		if isDiskKey(typeQemu, k) {
			// check_drive_param: the storage must exist.
			head, _, _ := strings.Cut(v, ",")
			if st, _, ok := strings.Cut(head, ":"); ok && n.Storages[st] == nil && allocRE.MatchString(head) {
				return nil, fail("storage '%s' does not exist", st)
			}
		}
		conf[k] = v
	}
	g := &guest{VMID: vmid, Type: typeQemu, Node: nodeName, Conf: map[string]string{"lock": "create"}, Pool: c.params["pool"]}
	s.st.Guests[vmid] = g
	start := c.bool("start")
	upid := s.startTask(nodeName, "qmcreate", strconv.Itoa(vmid), "", []lockSpec{{vmid: vmid, typ: typeQemu}}, func(t *task) (int, error) {
		for _, k := range sortedKeys(conf) {
			if isDiskKey(typeQemu, k) {
				nv, err := s.allocDisk(n, typeQemu, vmid, k, conf[k])
				if err != nil {
					g.Conf = conf
					_ = s.freeVolumes(g, conf)
					delete(s.st.Guests, vmid)
					return 0, fmt.Errorf("unable to create VM %d - %w", vmid, err)
				}
				if nv != conf[k] {
					t.logf("%s: successfully created disk '%s'", k, nv)
				}
				conf[k] = nv
			}
		}
		conf["smbios1"] = "uuid=" + s.uuid()
		conf["vmgenid"] = s.uuid()
		conf["meta"] = fmt.Sprintf("creation-qemu=9.2.0,ctime=%d", s.now().Unix())
		g.Conf = conf
		g.CloudInit = cloudInitView(conf)
		if start {
			return autostart(t, s.startGuest(t, g)), nil
		}
		return 0, nil
	})
	return upid, nil
}

// autostart logs a failed start after create as a warning: the guest stays
// created and the task ends "WARNINGS: 1" (qemu-server create_vm:
// "eval { vm_start } ; warn $@").
func autostart(t *task, err error) int {
	if err == nil {
		return 0
	}
	t.logf("Execute autostart")
	t.logf("WARN: %s", err)
	return 1
}

func (s *Server) uuid() string {
	s.st.MACSeq++
	x := s.st.MACSeq*0x9e3779b97f4a7c15 ^ s.opts.Seed
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", x>>32, x>>16&0xffff, x&0xfff, x>>4&0xfff, x&0xffffffffffff)
}

// ---- lists and status -------------------------------------------------------------

func hGuestList(typ string) handlerFunc {
	return func(s *Server, c *call) (any, *apiError) {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := []map[string]any{}
		for _, id := range sortedInts(s.st.Guests) {
			g := s.st.Guests[id]
			if g.Type != typ || g.Node != c.vars["node"] {
				continue
			}
			out = append(out, s.guestStatus(g))
		}
		return out, nil
	}
}

func hGuestIndex(typ string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, _ *guest) (any, *apiError) {
		subs := []string{"config", "pending", "status", "snapshot", "firewall", "rrd", "rrddata", "clone", "resize", "template"}
		if typ == typeQemu {
			subs = append(subs, "cloudinit", "agent", "migrate")
		}
		out := []map[string]any{}
		for _, sub := range subs {
			out = append(out, map[string]any{"subdir": sub})
		}
		return out, nil
	})
}

// guestStatus is vmstatus: "template" is only present for templates, which
// matters to go-proxmox (its IsTemplate is true for any value but "").
func (s *Server) guestStatus(g *guest) map[string]any {
	r := s.guestSummary(g)
	if !g.isTemplate() {
		delete(r, "template")
	}
	if g.Type == typeLXC {
		r["type"] = "lxc"
		swap := int64(atoiDefault(g.Conf["swap"], 512)) << 20
		r["maxswap"] = swap
		r["swap"] = 0
	} else {
		r["qmpstatus"] = r["status"]
		if g.Conf["agent"] != "" {
			r["agent"] = typedValue(&prop{Type: "boolean"}, strings.TrimPrefix(strings.Split(g.Conf["agent"], ",")[0], "enabled="))
		}
	}
	return r
}

func hStatusCurrent(typ string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, g *guest) (any, *apiError) {
		r := s.guestStatus(g)
		r["ha"] = map[string]any{"managed": 0}
		if g.Running && typ == typeQemu {
			r["pid"] = 10000 + g.VMID
			r["running-qemu"] = "9.2.0"
			r["running-machine"] = "pc-i440fx-9.2+pve1"
		}
		return r, nil
	})
}

// ---- power ----------------------------------------------------------------------

// startGuest applies pending changes and starts the guest; the memory check
// is the simulator's stand-in for a start that cannot allocate guest RAM.
// Call with s.mu held.
func (s *Server) startGuest(t *task, g *guest) error {
	if g.isTemplate() {
		if g.Type == typeQemu {
			return errors.New("you can't start a VM if it's a template")
		}
		return errors.New("you can't start a CT if it's a template")
	}
	n := s.st.Nodes[g.Node]
	want := memoryMiB(g.Conf)
	if g.Pending["memory"] != "" {
		want = memoryMiB(map[string]string{"memory": g.Pending["memory"]})
	}
	if want<<20 > n.Memory {
		if g.Type == typeQemu {
			t.logf("kvm: cannot set up guest memory 'pc.ram': Cannot allocate memory")
		}
		return fmt.Errorf("start failed: %s %d needs %d MiB of memory, node '%s' has %d MiB", typeWord(g.Type), g.VMID, want, n.Name, n.Memory>>20)
	}
	if err := s.applyPending(g, nil); err != nil {
		return err
	}
	g.Running = true
	g.StartedAt = s.now().Unix()
	if g.Type == typeQemu {
		g.CloudInit = cloudInitView(g.Conf)
	}
	return nil
}

func hPower(typ, action string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, g *guest) (any, *apiError) {
		vmid := g.VMID
		// Checks PVE makes before forking the worker
		// (pve-container API2/LXC/Status.pm, qemu-server API2/Qemu.pm).
		switch {
		case typ == typeLXC && action == "start" && g.Running:
			return nil, fail("CT %d already running", vmid)
		case typ == typeLXC && (action == "stop" || action == "shutdown") && !g.Running:
			return nil, fail("CT %d not running", vmid)
		case (action == "reboot" || action == "reset") && !g.Running:
			return nil, fail("VM %d not running", vmid)
		}
		skiplock := c.bool("skiplock")
		upid := s.startGuestTask(c, g, taskPrefix(typ)+action, !skiplock, func(t *task, g *guest) (int, error) {
			switch action {
			case "start":
				if g.Running {
					return 0, fmt.Errorf("VM %d already running", vmid)
				}
				return 0, s.startGuest(t, g)
			case "stop":
				g.Running, g.StartedAt = false, 0
			case "shutdown":
				if !g.Running {
					return 0, fmt.Errorf("VM %d not running", vmid)
				}
				g.Running, g.StartedAt = false, 0
			case "reboot":
				if !g.Running {
					return 0, fmt.Errorf("VM %d not running", vmid)
				}
				g.Running = false
				return 0, s.startGuest(t, g)
			case "reset":
				g.StartedAt = s.now().Unix()
			}
			return 0, nil
		})
		return upid, nil
	})
}

// ---- delete ------------------------------------------------------------------------

func hGuestDelete(typ string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, g *guest) (any, *apiError) {
		vmid := g.VMID
		// early checks (qemu-server destroy_vm / pve-container destroy_vm).
		if g.Conf["protection"] == "1" {
			return nil, fail("can't remove %s %d - protection mode enabled", typeWord(typ), vmid)
		}
		force := c.bool("force")
		if g.Running && typ == typeQemu {
			return nil, fail("VM %d is running - destroy failed", vmid)
		}
		if g.Running && !force {
			return nil, fail("unable to destroy CT %d - container is running", vmid)
		}
		unref, skiplock := c.bool("destroy-unreferenced-disks"), c.bool("skiplock")
		upid := s.startGuestTask(c, g, taskPrefix(typ)+"destroy", !skiplock, func(t *task, g *guest) (int, error) {
			if g.Running {
				t.logf("forced to stop CT %d before destroying!", vmid)
				g.Running = false
			}
			if err := s.freeVolumes(g, g.Conf); err != nil {
				return 0, err
			}
			if unref {
				for _, st := range s.st.Nodes[g.Node].Storages {
					for name, v := range st.Volumes {
						if v.VMID == vmid && (v.Content == "images" || v.Content == "rootdir") {
							t.logf("destroying unreferenced disk %s:%s", st.Name, name)
							delete(st.Volumes, name)
						}
					}
				}
			}
			if c.bool("purge") {
				t.logf("purging %s %d from related configurations..", typeWord(typ), vmid)
			}
			delete(s.st.Guests, vmid)
			return 0, nil
		})
		return upid, nil
	})
}

// ---- resize ------------------------------------------------------------------------

var resizeRE = regexp.MustCompile(`^(\+)?(\d+(\.\d+)?)([KMGT])?$`)

// hResize is PUT .../resize (a "resize" task in PVE 9): grow only.
func hResize(typ string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, g *guest) (any, *apiError) {
		if !resizeRE.MatchString(c.params["size"]) {
			return nil, paramErr(map[string]string{"size": "value does not match the regex pattern"})
		}
		vmid, disk, sizeStr := g.VMID, c.params["disk"], c.params["size"]
		skiplock := c.bool("skiplock")
		upid := s.startGuestTask(c, g, "resize", !skiplock, func(t *task, g *guest) (int, error) {
			val, ok := g.Conf[disk]
			if !ok {
				return 0, fmt.Errorf("disk '%s' does not exist", disk)
			}
			if strings.Contains(val, "media=cdrom") {
				return 0, errors.New("you can't resize a cdrom")
			}
			volid, size := diskVolume(val)
			stName, volName, _ := strings.Cut(volid, ":")
			st := s.st.Nodes[g.Node].Storages[stName]
			if st != nil && st.Volumes[volName] != nil {
				size = st.Volumes[volName].Size
			}
			m := resizeRE.FindStringSubmatch(sizeStr)
			f, _ := strconv.ParseFloat(m[2], 64)
			switch m[4] {
			case "K":
				f *= 1 << 10
			case "M":
				f *= 1 << 20
			case "G":
				f *= 1 << 30
			case "T":
				f *= 1 << 40
			}
			newSize := int64(f)
			if m[1] == "+" {
				newSize += size
			}
			if newSize < size {
				// qemu-server: "shrinking disks is not supported";
				// pve-container: "unable to shrink disk size".
				if typ == typeLXC {
					return 0, errors.New("unable to shrink disk size")
				}
				return 0, errors.New("shrinking disks is not supported")
			}
			if newSize == size {
				if typ == typeLXC {
					return 0, errors.New("disk is already at specified size")
				}
				return 0, nil
			}
			if st != nil {
				if avail := st.Total - st.used(); newSize-size > avail {
					return 0, fmt.Errorf("unable to resize %s on storage '%s': not enough free space", disk, stName)
				}
				if v := st.Volumes[volName]; v != nil {
					v.Size = newSize
				}
			}
			t.logf("update %s %d: resize --disk %s --size %s", typeWord(typ), vmid, disk, sizeStr)
			g.Conf[disk] = setDiskSize(val, newSize)
			return 0, nil
		})
		return upid, nil
	})
}

// ---- clone and template ---------------------------------------------------------------

// cloneDrop are config keys not copied to a clone.
var cloneDrop = map[string]bool{"template": true, "lock": true, "vmgenid": true, "smbios1": true, "meta": true}

// hClone is qemu-server clone_vm / pve-container clone_vm. The early checks
// and the target's "lock: clone" config are done in the call; the copy runs
// in a task holding the source (shared unless running) and target locks.
func hClone(typ string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, src *guest) (any, *apiError) {
		if err := checkLock(src); err != nil {
			return nil, fail("%s", err.Error())
		}
		vmid, newid := src.VMID, c.int("newid")
		full := !src.isTemplate()
		if c.has("full") {
			full = c.bool("full")
		}
		if c.params["storage"] != "" && !full {
			return nil, fail("parameter 'storage' not allowed for linked clones")
		}
		if c.params["format"] != "" && !full {
			return nil, fail("parameter 'format' not allowed for linked clones")
		}
		target := c.params["target"]
		if target != "" && target != src.Node {
			if s.st.Nodes[target] == nil {
				return nil, fail("no such cluster node '%s'", target)
			}
			return nil, fail("can't clone %s to node '%s' (%s uses local storage)", typeWord(typ), target, typeWord(typ))
		}
		if g := s.st.Guests[newid]; g != nil {
			if typ == typeLXC {
				return nil, fail("unable to create CT %d - %s", newid, s.vmidInUse(newid))
			}
			return nil, fail("unable to create VM %d: config file already exists", newid)
		}
		if p := c.params["pool"]; p != "" && s.st.Pools[p] == nil {
			return nil, fail("pool '%s' does not exist", p)
		}
		dst := &guest{VMID: newid, Type: typ, Node: src.Node, Conf: map[string]string{"lock": "clone"}, Pool: c.params["pool"]}
		if typ == typeLXC {
			dst.Conf["lock"] = "create"
		}
		s.st.Guests[newid] = dst
		params := c.params
		locks := []lockSpec{{vmid: vmid, typ: typ, shared: !src.Running}, {vmid: newid, typ: typ}}
		upid := s.startTask(src.Node, taskPrefix(typ)+"clone", strconv.Itoa(vmid), "", locks, func(t *task) (int, error) {
			err := s.cloneEffect(t, vmid, dst, full, params)
			if err != nil {
				_ = s.freeVolumes(dst, dst.Conf)
				delete(s.st.Guests, newid)
				return 0, fmt.Errorf("clone failed: %w", err)
			}
			return 0, nil
		})
		return upid, nil
	})
}

func (s *Server) cloneEffect(t *task, vmid int, dst *guest, full bool, p map[string]string) error {
	src := s.st.Guests[vmid]
	if src == nil {
		return pveErrorf("Configuration file '%s' does not exist", configPath(dst.Type, dst.Node, vmid))
	}
	n := s.st.Nodes[src.Node]
	conf := map[string]string{}
	for k, v := range src.Conf {
		if cloneDrop[k] || strings.HasPrefix(k, "unused") {
			continue
		}
		conf[k] = v
	}
	for _, k := range sortedKeys(conf) {
		v := conf[k]
		switch {
		case strings.HasPrefix(k, "net"):
			conf[k] = s.withMAC(dst.Type, stripMAC(dst.Type, v))
		case isDiskKey(dst.Type, k) && !strings.Contains(v, "media=cdrom"):
			volid, _ := diskVolume(v)
			stName, volName, ok := strings.Cut(volid, ":")
			if !ok {
				continue
			}
			st := n.Storages[stName]
			if st == nil || st.Volumes[volName] == nil {
				return fmt.Errorf("volume '%s' does not exist", volid)
			}
			srcVol := st.Volumes[volName]
			size := srcVol.Size
			if full {
				if ts := p["storage"]; ts != "" {
					if st = n.Storages[ts]; st == nil {
						return fmt.Errorf("storage '%s' does not exist", ts)
					}
				}
				name := newVolumeName(st, dst.Type, dst.VMID, "")
				if avail := st.Total - st.used(); size > avail {
					return fmt.Errorf("unable to allocate %s on storage '%s': not enough free space", k, st.Name)
				}
				st.Volumes[name] = &volume{Content: srcVol.Content, Format: volumeFormat(st, dst.Type), Size: size, VMID: dst.VMID, Ctime: s.now().Unix()}
				t.logf("create full clone of drive %s (%s)", k, volid)
				conf[k] = replaceVolume(v, st.Name+":"+name)
			} else {
				if !isBaseVolume(volName) {
					return errors.New("clone_image only works on base images")
				}
				name := volName + "/" + newVolumeName(st, dst.Type, dst.VMID, "")
				st.Volumes[name] = &volume{Content: srcVol.Content, Format: srcVol.Format, Size: size, VMID: dst.VMID, Ctime: s.now().Unix()}
				t.logf("create linked clone of drive %s (%s)", k, volid)
				conf[k] = replaceVolume(v, st.Name+":"+name)
			}
		}
	}
	if dst.Type == typeQemu {
		conf["smbios1"] = "uuid=" + s.uuid()
		conf["vmgenid"] = s.uuid()
		conf["meta"] = fmt.Sprintf("creation-qemu=9.2.0,ctime=%d", s.now().Unix())
		if name := p["name"]; name != "" {
			conf["name"] = name
		} else {
			conf["name"] = "Copy-of-VM-" + src.Conf["name"]
		}
		dst.CloudInit = cloudInitView(conf)
	} else if h := p["hostname"]; h != "" {
		conf["hostname"] = h
	}
	if d := p["description"]; d != "" {
		conf["description"] = d
	}
	dst.Conf = conf
	if dst.Pool != "" {
		if _, ok := s.st.Pools[dst.Pool]; !ok {
			s.st.Pools[dst.Pool] = &pool{}
		}
	}
	return nil
}

func stripMAC(typ, v string) string {
	parts := strings.Split(v, ",")
	var out []string
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		switch {
		case typ == typeLXC && k == "hwaddr":
			continue
		case typ == typeQemu && qemuNICModels[k]:
			p = k
		case typ == typeQemu && k == "macaddr":
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ",")
}

func replaceVolume(v, volid string) string {
	_, rest, ok := strings.Cut(v, ",")
	if !ok {
		return volid
	}
	return volid + "," + rest
}

// hTemplate converts a guest to a template (qemu: qmtemplate task; lxc: sync).
func hTemplate(typ string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, g *guest) (any, *apiError) {
		convert := func(g *guest) error {
			if g.isTemplate() {
				return fmt.Errorf("you can't convert a template to a template")
			}
			if g.Running {
				return fmt.Errorf("you can't convert a %s to template if %s is running", typeWord(typ), typeWord(typ))
			}
			if err := checkLock(g); err != nil {
				return err
			}
			n := s.st.Nodes[g.Node]
			for _, k := range sortedKeys(g.Conf) {
				v := g.Conf[k]
				if !isDiskKey(typ, k) || strings.Contains(v, "media=cdrom") {
					continue
				}
				volid, _ := diskVolume(v)
				stName, volName, ok := strings.Cut(volid, ":")
				st := n.Storages[stName]
				if !ok || st == nil || st.Volumes[volName] == nil {
					continue
				}
				base := strings.Replace(volName, "vm-", "base-", 1)
				base = strings.Replace(base, "subvol-", "basevol-", 1)
				st.Volumes[base] = st.Volumes[volName]
				delete(st.Volumes, volName)
				g.Conf[k] = replaceVolume(v, stName+":"+base)
			}
			g.Conf["template"] = "1"
			return nil
		}
		if typ == typeLXC {
			if err := convert(g); err != nil {
				return nil, fail("%s", err.Error())
			}
			return nil, nil
		}
		return s.startGuestTask(c, g, "qmtemplate", false, func(_ *task, g *guest) (int, error) {
			return 0, convert(g)
		}), nil
	})
}

// ---- cloud-init ----------------------------------------------------------------------

// hCloudInitGet lists cloud-init options whose value differs from what the
// cloud-init drive was last generated with (qemu-server cloudinit_pending).
var hCloudInitGet = withGuest(typeQemu, func(s *Server, c *call, g *guest) (any, *apiError) {
	now := cloudInitView(g.Conf)
	keys := map[string]bool{}
	for k := range now {
		keys[k] = true
	}
	for k := range g.CloudInit {
		keys[k] = true
	}
	out := []map[string]any{}
	for _, k := range sortedKeys(keys) {
		item := map[string]any{"key": k}
		old, hadOld := g.CloudInit[k]
		cur, hasCur := now[k]
		if hadOld {
			item["value"] = old
		}
		switch {
		case hasCur && (!hadOld || cur != old):
			item["pending"] = cur
		case !hasCur && hadOld:
			item["delete"] = 1
		}
		out = append(out, item)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i]["key"].(string) < out[j]["key"].(string) })
	return out, nil
})

// hCloudInitRegen regenerates the cloud-init drive from the current config.
var hCloudInitRegen = withGuest(typeQemu, func(s *Server, c *call, g *guest) (any, *apiError) {
	g.CloudInit = cloudInitView(g.Conf)
	return nil, nil
})
