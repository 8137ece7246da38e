package sim

import (
	"crypto/sha1" //nolint:gosec // storage.cfg's digest is SHA1 like every PVE config digest (PVE::SectionConfig, Digest::SHA sha1_hex).
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// handlers maps "METHOD /schema/template" to its implementation. Every key
// must be a method/path of the embedded schema (checked by a test).
var handlers = map[string]handlerFunc{
	"GET /version":                                         hVersion,
	"GET /nodes":                                           hNodes,
	"GET /nodes/{node}/status":                             hNodeStatus,
	"GET /cluster/status":                                  hClusterStatus,
	"GET /cluster/resources":                               hResources,
	"GET /cluster/nextid":                                  hNextID,
	"GET /nodes/{node}/storage":                            hStorageList,
	"GET /nodes/{node}/storage/{storage}/status":           hStorageStatus,
	"GET /nodes/{node}/storage/{storage}/content":          hStorageContent,
	"GET /nodes/{node}/tasks/{upid}/status":                hTaskStatus,
	"GET /nodes/{node}/tasks/{upid}/log":                   hTaskLog,
	"DELETE /nodes/{node}/tasks/{upid}":                    hTaskStop,
	"GET /pools":                                           hPools,
	"POST /pools":                                          hPoolCreate,
	"GET /pools/{poolid}":                                  hPoolGet,
	"DELETE /pools/{poolid}":                               hPoolDelete,
	"GET /nodes/{node}/lxc":                                hGuestList(typeLXC),
	"POST /nodes/{node}/lxc":                               hLXCCreate,
	"GET /nodes/{node}/lxc/{vmid}":                         hGuestIndex(typeLXC),
	"DELETE /nodes/{node}/lxc/{vmid}":                      hGuestDelete(typeLXC),
	"GET /nodes/{node}/lxc/{vmid}/config":                  hConfigGet(typeLXC),
	"PUT /nodes/{node}/lxc/{vmid}/config":                  hConfigUpdateSync(typeLXC),
	"GET /nodes/{node}/lxc/{vmid}/pending":                 hPending(typeLXC),
	"GET /nodes/{node}/lxc/{vmid}/status/current":          hStatusCurrent(typeLXC),
	"POST /nodes/{node}/lxc/{vmid}/status/start":           hPower(typeLXC, "start"),
	"POST /nodes/{node}/lxc/{vmid}/status/stop":            hPower(typeLXC, "stop"),
	"POST /nodes/{node}/lxc/{vmid}/status/shutdown":        hPower(typeLXC, "shutdown"),
	"POST /nodes/{node}/lxc/{vmid}/status/reboot":          hPower(typeLXC, "reboot"),
	"PUT /nodes/{node}/lxc/{vmid}/resize":                  hResize(typeLXC),
	"POST /nodes/{node}/lxc/{vmid}/clone":                  hClone(typeLXC),
	"GET /nodes/{node}/qemu":                               hGuestList(typeQemu),
	"POST /nodes/{node}/qemu":                              hQemuCreate,
	"GET /nodes/{node}/qemu/{vmid}":                        hGuestIndex(typeQemu),
	"DELETE /nodes/{node}/qemu/{vmid}":                     hGuestDelete(typeQemu),
	"GET /nodes/{node}/qemu/{vmid}/config":                 hConfigGet(typeQemu),
	"PUT /nodes/{node}/qemu/{vmid}/config":                 hConfigUpdateSync(typeQemu),
	"POST /nodes/{node}/qemu/{vmid}/config":                hConfigUpdateAsync,
	"GET /nodes/{node}/qemu/{vmid}/pending":                hPending(typeQemu),
	"GET /nodes/{node}/qemu/{vmid}/status/current":         hStatusCurrent(typeQemu),
	"POST /nodes/{node}/qemu/{vmid}/status/start":          hPower(typeQemu, "start"),
	"POST /nodes/{node}/qemu/{vmid}/status/stop":           hPower(typeQemu, "stop"),
	"POST /nodes/{node}/qemu/{vmid}/status/shutdown":       hPower(typeQemu, "shutdown"),
	"POST /nodes/{node}/qemu/{vmid}/status/reboot":         hPower(typeQemu, "reboot"),
	"POST /nodes/{node}/qemu/{vmid}/status/reset":          hPower(typeQemu, "reset"),
	"PUT /nodes/{node}/qemu/{vmid}/resize":                 hResize(typeQemu),
	"POST /nodes/{node}/qemu/{vmid}/clone":                 hClone(typeQemu),
	"POST /nodes/{node}/qemu/{vmid}/template":              hTemplate(typeQemu),
	"POST /nodes/{node}/lxc/{vmid}/template":               hTemplate(typeLXC),
	"GET /nodes/{node}/qemu/{vmid}/cloudinit":              hCloudInitGet,
	"PUT /nodes/{node}/qemu/{vmid}/cloudinit":              hCloudInitRegen,
	"GET /nodes/{node}/storage/{storage}/content/{volume}": hVolumeGet,
	"GET /nodes/{node}/tasks":                              hTaskList,
	"GET /nodes/{node}/lxc/{vmid}/interfaces":              hLXCInterfaces,
	"GET /storage":                                         hStorageConfig,
	"POST /access/ticket":                                  hTicket,
}

// pveVersion is the release the embedded schema was dumped from.
const pveVersion = "9.1.3"

func hVersion(_ *Server, _ *call) (any, *apiError) {
	return map[string]any{"version": pveVersion, "release": "9.1", "repoid": "6a3d7c5b2e1f4a80"}, nil
}

func (s *Server) nodeMemUsed(n *node) int64 {
	var used int64 = 2 << 30 // host overhead
	for _, g := range s.st.Guests {
		if g.Node == n.Name && g.Running {
			used += guestMemUsed(g)
		}
	}
	if used > n.Memory {
		used = n.Memory
	}
	return used
}

func guestMemUsed(g *guest) int64 { return memoryMiB(g.Conf) << 20 / 4 }

func (s *Server) nodeRootDisk(n *node) (used, total int64) {
	if st := n.Storages["local"]; st != nil {
		return st.used(), st.Total
	}
	return 0, 100 << 30
}

func hNodes(s *Server, _ *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(s.st.Nodes)) {
		out = append(out, s.nodeResource(s.st.Nodes[name]))
	}
	return out, nil
}

func (s *Server) nodeResource(n *node) map[string]any {
	m := map[string]any{
		"id":     "node/" + n.Name,
		"node":   n.Name,
		"type":   "node",
		"status": "offline",
		"level":  "",
	}
	if n.Online {
		used, total := s.nodeRootDisk(n)
		m["status"] = "online"
		m["maxcpu"] = n.CPUs
		m["maxmem"] = n.Memory
		m["mem"] = s.nodeMemUsed(n)
		m["cpu"] = 0.02
		m["uptime"] = s.now().Unix() - n.BootTime
		m["disk"] = used
		m["maxdisk"] = total
		m["ssl_fingerprint"] = "5A:1B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09"
	}
	return m
}

func hNodeStatus(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.Nodes[c.vars["node"]]
	used := s.nodeMemUsed(n)
	dUsed, dTotal := s.nodeRootDisk(n)
	return map[string]any{
		"uptime":     s.now().Unix() - n.BootTime,
		"cpu":        0.02,
		"wait":       0.0,
		"idle":       0,
		"loadavg":    []string{"0.12", "0.10", "0.08"},
		"kversion":   "Linux 6.17.2-1-pve #1 SMP PREEMPT_DYNAMIC PMX 6.17.2-1",
		"pveversion": "pve-manager/" + pveVersion + "/6a3d7c5b2e1f4a80",
		"cpuinfo": map[string]any{
			"cpus": n.CPUs, "cores": n.CPUs, "sockets": 1, "model": "Simulated CPU", "mhz": "3000.000",
			"hvm": "1", "flags": "", "user_hz": 100,
		},
		"memory": map[string]any{"total": n.Memory, "used": used, "free": n.Memory - used, "available": n.Memory - used},
		"swap":   map[string]any{"total": 0, "used": 0, "free": 0},
		"rootfs": map[string]any{"total": dTotal, "used": dUsed, "free": dTotal - dUsed, "avail": dTotal - dUsed},
		"ksm":    map[string]any{"shared": 0},
	}, nil
}

// hClusterStatus answers like a standalone node (only node entries) or, with
// more than one node, a cluster entry first (pve-manager API2/ClusterConfig).
func hClusterStatus(s *Server, _ *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	names := slices.Sorted(maps.Keys(s.st.Nodes))
	if len(names) > 1 {
		out = append(out, map[string]any{"type": "cluster", "id": "cluster", "name": "simcluster", "nodes": len(names), "quorate": 1, "version": len(names)})
	}
	for i, name := range names {
		n := s.st.Nodes[name]
		online := 0
		if n.Online {
			online = 1
		}
		local := 0
		if i == 0 {
			local = 1
		}
		out = append(out, map[string]any{
			"type": "node", "id": "node/" + name, "name": name, "nodeid": i + 1,
			"ip": fmt.Sprintf("192.168.1.%d", 10+i), "online": online, "local": local, "level": "",
		})
	}
	return out, nil
}

// hResources is /cluster/resources: one entry per guest, node and storage
// (fields per the schema's returns; pve-manager API2/Cluster.pm resources).
func hResources(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	filter := c.params["type"]
	out := []map[string]any{}
	if filter == "" || filter == "vm" {
		for _, id := range slices.Sorted(maps.Keys(s.st.Guests)) {
			g := s.st.Guests[id]
			r := s.guestSummary(g)
			r["id"] = fmt.Sprintf("%s/%d", g.Type, g.VMID)
			r["type"] = g.Type
			r["node"] = g.Node
			r["maxcpu"] = r["cpus"]
			delete(r, "cpus")
			if g.Pool != "" {
				r["pool"] = g.Pool
			}
			out = append(out, r)
		}
	}
	if filter == "" || filter == "node" {
		for _, name := range slices.Sorted(maps.Keys(s.st.Nodes)) {
			out = append(out, s.nodeResource(s.st.Nodes[name]))
		}
	}
	if filter == "" || filter == "storage" {
		for _, name := range slices.Sorted(maps.Keys(s.st.Nodes)) {
			n := s.st.Nodes[name]
			for _, sn := range slices.Sorted(maps.Keys(n.Storages)) {
				st := n.Storages[sn]
				status := "available"
				if !n.Online {
					status = "unknown"
				}
				out = append(out, map[string]any{
					"id": "storage/" + name + "/" + sn, "type": "storage", "storage": sn, "node": name,
					"status": status, "content": strings.Join(st.Content, ","), "plugintype": st.Type,
					"shared": 0, "disk": st.used(), "maxdisk": st.Total,
				})
			}
		}
	}
	if filter == "" {
		for _, p := range slices.Sorted(maps.Keys(s.st.Pools)) {
			out = append(out, map[string]any{"id": "/pool/" + p, "type": "pool", "pool": p})
		}
	}
	return out, nil
}

// guestSummary holds the fields shared by /cluster/resources, the guest lists
// and status/current (qemu-server vmstatus, pve-container vmstatus).
func (s *Server) guestSummary(g *guest) map[string]any {
	status := "stopped"
	if g.Running {
		status = "running"
	}
	cpus := s.guestCPUs(g)
	maxmem := memoryMiB(g.Conf) << 20
	r := map[string]any{
		"vmid":      g.VMID,
		"name":      g.name(),
		"status":    status,
		"maxmem":    maxmem,
		"cpus":      cpus,
		"maxdisk":   s.guestMaxDisk(g),
		"disk":      0,
		"mem":       0,
		"cpu":       0,
		"uptime":    0,
		"netin":     0,
		"netout":    0,
		"diskread":  0,
		"diskwrite": 0,
		"template":  0,
	}
	if g.name() == "" {
		if g.Type == typeLXC {
			r["name"] = fmt.Sprintf("CT%d", g.VMID)
		} else {
			r["name"] = fmt.Sprintf("VM %d", g.VMID)
		}
	}
	if g.isTemplate() {
		r["template"] = 1
	}
	if t := g.Conf["tags"]; t != "" {
		r["tags"] = t
	}
	if l := g.Conf["lock"]; l != "" {
		r["lock"] = l
	}
	if g.Running {
		up := s.now().Unix() - g.StartedAt
		if up < 0 {
			up = 0
		}
		r["uptime"] = up
		r["mem"] = guestMemUsed(g)
		r["cpu"] = 0.01
		r["netin"] = up * 1000
		r["netout"] = up * 500
		if g.Type == typeLXC {
			r["disk"] = s.guestMaxDisk(g) / 8
		}
	}
	return r
}

func (s *Server) guestCPUs(g *guest) int {
	if g.Type == typeLXC {
		if c := atoiDefault(g.Conf["cores"], 0); c > 0 {
			return c
		}
		if n := s.st.Nodes[g.Node]; n != nil {
			return n.CPUs
		}
		return 1
	}
	if v := atoiDefault(g.Conf["vcpus"], 0); v > 0 {
		return v
	}
	return atoiDefault(g.Conf["sockets"], 1) * atoiDefault(g.Conf["cores"], 1)
}

// guestMaxDisk is the root disk size (lxc rootfs; qemu: the boot disk or
// the first disk).
func (s *Server) guestMaxDisk(g *guest) int64 {
	if g.Type == typeLXC {
		_, size := diskVolume(g.Conf["rootfs"])
		return size
	}
	for _, k := range []string{"scsi0", "virtio0", "sata0", "ide0"} {
		if v := g.Conf[k]; v != "" && !strings.Contains(v, "media=cdrom") {
			_, size := diskVolume(v)
			return size
		}
	}
	return 0
}

// hNextID is pve-manager API2/Cluster.pm nextid. go-proxmox decodes the
// result into a Go string (docs/api-facts.md §1 nextid), so it is sent as one.
func hNextID(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.has("vmid") {
		id := c.int("vmid")
		if s.st.Guests[id] != nil {
			return nil, paramErr(map[string]string{"vmid": fmt.Sprintf("VM %d already exists", id)})
		}
		return fmt.Sprint(id), nil
	}
	for i := 100; i < 1000000; i++ {
		if s.st.Guests[i] == nil {
			return fmt.Sprint(i), nil
		}
	}
	return nil, fail("unable to get any free VMID in range [100, 1000000]")
}

func storageEntry(st *storage) map[string]any {
	used := st.used()
	frac := 0.0
	if st.Total > 0 {
		frac = float64(used) / float64(st.Total)
	}
	return map[string]any{
		"storage": st.Name, "type": st.Type, "content": strings.Join(st.Content, ","),
		"active": 1, "enabled": 1, "shared": 0,
		"total": st.Total, "used": used, "avail": st.Total - used, "used_fraction": frac,
	}
}

// hStorageConfig is pve-storage API2/Storage/Config.pm index: the
// cluster's storage definitions (storage.cfg), optionally of one type, by
// ID. Each carries its type, content (comma-separated, sorted), the digest of
// the configuration and, for a storage not defined on every node, nodes;
// plus the property its type requires: path (dir), vgname and thinpool
// (lvmthin), pool (zfspool), as a default install writes them.
func hStorageConfig(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type def struct {
		st    *storage
		nodes []string
	}
	defs := map[string]*def{}
	for _, nn := range slices.Sorted(maps.Keys(s.st.Nodes)) {
		for name, st := range s.st.Nodes[nn].Storages {
			if defs[name] == nil {
				defs[name] = &def{st: st}
			}
			defs[name].nodes = append(defs[name].nodes, nn)
		}
	}
	var all []map[string]any
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		d := defs[name]
		content := slices.Clone(d.st.Content)
		slices.Sort(content)
		e := map[string]any{"storage": name, "type": d.st.Type, "content": strings.Join(content, ",")}
		switch d.st.Type {
		case "dir":
			e["path"] = "/var/lib/vz"
			if name != "local" {
				e["path"] = "/mnt/pve/" + name
			}
		case "lvmthin":
			e["vgname"], e["thinpool"] = "pve", "data"
		case "zfspool":
			e["pool"], e["sparse"] = "rpool/data", 1
		}
		if len(d.nodes) < len(s.st.Nodes) {
			e["nodes"] = strings.Join(d.nodes, ",")
		}
		all = append(all, e)
	}
	sum := sha1.Sum([]byte(fmt.Sprint(all))) //nolint:gosec // see import
	out := []map[string]any{}
	for _, e := range all {
		if t := c.params["type"]; t != "" && e["type"] != t {
			continue
		}
		e["digest"] = hex.EncodeToString(sum[:])
		out = append(out, e)
	}
	return out, nil
}

func hStorageList(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.Nodes[c.vars["node"]]
	out := []map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(n.Storages)) {
		st := n.Storages[name]
		if want := c.params["content"]; want != "" {
			ok := false
			for _, w := range strings.Split(want, ",") {
				ok = ok || st.has(w)
			}
			if !ok {
				continue
			}
		}
		if sid := c.params["storage"]; sid != "" && sid != name {
			continue
		}
		out = append(out, storageEntry(st))
	}
	return out, nil
}

func (s *Server) findStorage(c *call) (*storage, *apiError) {
	n := s.st.Nodes[c.vars["node"]]
	st := n.Storages[c.vars["storage"]]
	if st == nil {
		// PVE::Storage::storage_config
		return nil, fail("storage '%s' does not exist", c.vars["storage"])
	}
	return st, nil
}

var hStorageStatus = withFound((*Server).findStorage, func(s *Server, c *call, st *storage) (any, *apiError) {
	return storageEntry(st), nil
})

var hStorageContent = withFound((*Server).findStorage, func(s *Server, c *call, st *storage) (any, *apiError) {
	out := []map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(st.Volumes)) {
		v := st.Volumes[name]
		if ct := c.params["content"]; ct != "" && ct != v.Content {
			continue
		}
		if c.has("vmid") && c.int("vmid") != v.VMID {
			continue
		}
		e := map[string]any{
			"volid": st.Name + ":" + name, "content": v.Content, "format": v.Format,
			"size": v.Size, "ctime": v.Ctime,
		}
		if v.VMID != 0 {
			e["vmid"] = v.VMID
			e["used"] = v.Size / 8
		}
		out = append(out, e)
	}
	return out, nil
})

var hVolumeGet = withFound((*Server).findStorage, func(s *Server, c *call, st *storage) (any, *apiError) {
	name := c.vars["volume"]
	if sn, rest, ok := strings.Cut(name, ":"); ok && sn == st.Name {
		name = rest
	}
	v := st.Volumes[name]
	if v == nil {
		return nil, fail("volume '%s:%s' does not exist", st.Name, name)
	}
	return map[string]any{"path": "/var/lib/vz/" + name, "size": v.Size, "used": v.Size, "format": v.Format}, nil
})

// ---- pools ------------------------------------------------------------------

func (s *Server) poolMembers(name string) []map[string]any {
	members := []map[string]any{}
	for _, id := range slices.Sorted(maps.Keys(s.st.Guests)) {
		g := s.st.Guests[id]
		if g.Pool != name {
			continue
		}
		m := s.guestSummary(g)
		m["id"] = fmt.Sprintf("%s/%d", g.Type, g.VMID)
		m["type"] = g.Type
		m["node"] = g.Node
		members = append(members, m)
	}
	return members
}

func hPools(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(s.st.Pools)) {
		if id := c.params["poolid"]; id != "" && id != name {
			continue
		}
		p := map[string]any{"poolid": name}
		if s.st.Pools[name].Comment != "" {
			p["comment"] = s.st.Pools[name].Comment
		}
		if c.params["poolid"] != "" {
			p["members"] = s.poolMembers(name)
		}
		out = append(out, p)
	}
	return out, nil
}

func hPoolCreate(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := c.params["poolid"]
	if _, ok := s.st.Pools[id]; ok {
		return nil, fail("create pool failed: pool '%s' already exists", id)
	}
	s.st.Pools[id] = &pool{Comment: c.params["comment"]}
	return nil, nil
}

func hPoolGet(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := c.vars["poolid"]
	p := s.st.Pools[id]
	if p == nil {
		return nil, fail("pool '%s' does not exist", id)
	}
	out := map[string]any{"members": s.poolMembers(id)}
	if p.Comment != "" {
		out["comment"] = p.Comment
	}
	return out, nil
}

func hPoolDelete(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := c.vars["poolid"]
	if s.st.Pools[id] == nil {
		return nil, fail("delete pool failed: pool '%s' does not exist", id)
	}
	if len(s.poolMembers(id)) > 0 {
		return nil, fail("delete pool failed: pool '%s' is not empty", id)
	}
	delete(s.st.Pools, id)
	return nil, nil
}
