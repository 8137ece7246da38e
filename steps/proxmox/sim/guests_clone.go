package sim

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Clone and template: POST .../clone and .../template.

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
				return nil, fail("%s", s.vmidInUse(newid)) // create_and_lock_config's die, unwrapped (LXC.pm clone_vm)
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
		upid := s.startTask(src.Node, taskPrefix(typ)+"clone", strconv.Itoa(vmid), c.user, locks, func(t *task) (int, error) {
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
	for _, k := range slices.Sorted(maps.Keys(conf)) {
		v := conf[k]
		switch {
		case strings.HasPrefix(k, "net"):
			conf[k] = s.withMAC(dst.Type, stripMAC(dst.Type, v))
		case isDiskKey(dst.Type, k) && !strings.Contains(v, "media=cdrom"):
			volid, _ := diskVolume(v)
			if !strings.Contains(volid, ":") {
				continue
			}
			st, volName, srcVol := n.findVolume(volid)
			if srcVol == nil {
				return fmt.Errorf("volume '%s' does not exist", volid)
			}
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
			for _, k := range slices.Sorted(maps.Keys(g.Conf)) {
				v := g.Conf[k]
				if !isDiskKey(typ, k) || strings.Contains(v, "media=cdrom") {
					continue
				}
				volid, _ := diskVolume(v)
				st, volName, vol := n.findVolume(volid)
				if vol == nil {
					continue
				}
				base := strings.Replace(volName, "vm-", "base-", 1)
				base = strings.Replace(base, "subvol-", "basevol-", 1)
				st.Volumes[base] = st.Volumes[volName]
				delete(st.Volumes, volName)
				g.Conf[k] = replaceVolume(v, st.Name+":"+base)
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
