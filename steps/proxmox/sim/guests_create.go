package sim

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Guest creation: POST /nodes/{node}/lxc and /nodes/{node}/qemu.

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
var hLXCCreate = withFound(findSlot(typeLXC), func(s *Server, c *call, at slot) (any, *apiError) {
	n, vmid := at.n, at.vmid
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
	g := &guest{VMID: vmid, Type: typeLXC, Node: n.Name, Conf: map[string]string{"lock": "create"}, Pool: c.params["pool"]}
	s.st.Guests[vmid] = g
	params := c.params
	upid := s.startTask(n.Name, "vzcreate", strconv.Itoa(vmid), c.user, []lockSpec{{vmid: vmid, typ: typeLXC}}, func(t *task) (int, error) {
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
})

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
	for _, k := range slices.Sorted(maps.Keys(conf)) {
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
var hQemuCreate = withFound(findSlot(typeQemu), func(s *Server, c *call, at slot) (any, *apiError) {
	n, vmid := at.n, at.vmid
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
	g := &guest{VMID: vmid, Type: typeQemu, Node: n.Name, Conf: map[string]string{"lock": "create"}, Pool: c.params["pool"]}
	s.st.Guests[vmid] = g
	start := c.bool("start")
	upid := s.startTask(n.Name, "qmcreate", strconv.Itoa(vmid), c.user, []lockSpec{{vmid: vmid, typ: typeQemu}}, func(t *task) (int, error) {
		for _, k := range slices.Sorted(maps.Keys(conf)) {
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
})

// slot is where create_vm puts a new guest: the request's node and its VMID.
type slot struct {
	n    *node
	vmid int
}

// findSlot is createTarget as a finder for withFound.
func findSlot(typ string) func(s *Server, c *call) (slot, *apiError) {
	return func(s *Server, c *call) (slot, *apiError) {
		n, vmid, e := s.createTarget(c, typ)
		return slot{n, vmid}, e
	}
}

// createTarget is the start of create_vm: the node of the request and its
// VMID, which must be free (check_vmid_unused). Call with s.mu held.
func (s *Server) createTarget(c *call, typ string) (*node, int, *apiError) {
	vmid := c.int("vmid")
	if err := s.vmidInUse(vmid); err != nil {
		if typ == typeLXC {
			// pve-container API2/LXC.pm create_vm calls check_vmid_unused
			// itself before create_and_lock_config: no "unable to create" prefix.
			return nil, 0, fail("%s", err)
		}
		return nil, 0, fail("unable to create %s %d - %s", typeWord(typ), vmid, err)
	}
	return s.st.Nodes[c.vars["node"]], vmid, nil
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
