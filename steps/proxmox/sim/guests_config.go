package sim

import (
	"crypto/sha1" //nolint:gosec // PVE's config digest is SHA1 (schema: "SHA1 digest of configuration file").
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Guest config handlers: GET .../config and .../pending (with the typed
// values and digest PVE sends) and the sync and async config updates, with
// pending changes and hotplug.

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
	for _, k := range slices.Sorted(maps.Keys(g.Conf)) {
		b.WriteString(k + ": " + g.Conf[k] + "\n")
	}
	if len(g.Pending) > 0 || len(g.PendingDelete) > 0 {
		b.WriteString("[PENDING]\n")
		for _, k := range slices.Sorted(maps.Keys(g.Pending)) {
			b.WriteString(k + ": " + g.Pending[k] + "\n")
		}
		for _, k := range slices.Sorted(maps.Keys(g.PendingDelete)) {
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
		for _, k := range slices.Sorted(maps.Keys(g.Conf)) {
			item := map[string]any{"key": k, "value": typedValue(gi.returnProp(k), g.Conf[k])}
			if p, ok := g.Pending[k]; ok {
				item["pending"] = typedValue(gi.returnProp(k), p)
			}
			if force, ok := g.PendingDelete[k]; ok {
				item["delete"] = deleteFlag(force)
			}
			out = append(out, item)
		}
		for _, k := range slices.Sorted(maps.Keys(g.Pending)) {
			if _, ok := g.Conf[k]; !ok {
				out = append(out, map[string]any{"key": k, "pending": typedValue(gi.returnProp(k), g.Pending[k])})
			}
		}
		for _, k := range slices.Sorted(maps.Keys(g.PendingDelete)) {
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
	for _, k := range slices.Sorted(maps.Keys(c.params)) {
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
	for _, k := range slices.Sorted(maps.Keys(g.PendingDelete)) {
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
	for _, k := range slices.Sorted(maps.Keys(g.Pending)) {
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
	for _, k := range slices.Sorted(maps.Keys(p)) {
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
