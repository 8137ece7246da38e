package sim

import (
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Guest lists and status: the lxc/qemu indexes and status/current.

func hGuestList(typ string) handlerFunc {
	return func(s *Server, c *call) (any, *apiError) {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := []map[string]any{}
		for _, id := range slices.Sorted(maps.Keys(s.st.Guests)) {
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

// hLXCInterfaces is pve-container API2/LXC.pm ip ({vmid}/interfaces), which
// returns PVE::LXC::get_interfaces: nothing (null) for a stopped container;
// for a running one the interfaces of "ip --json a" in its network
// namespace: lo and one per netN, each with name, hwaddr and
// hardware-address, ip-addresses, and inet/inet6 (the last address of that
// family). The simulator knows static addresses (ip=, ip6= in CIDR form);
// a DHCP lease is not simulated.
var hLXCInterfaces = withGuest(typeLXC, func(s *Server, c *call, g *guest) (any, *apiError) {
	if !g.Running {
		return nil, nil
	}
	type addr struct {
		family, ip string
		prefix     int
	}
	iface := func(name, mac string, addrs ...addr) map[string]any {
		out := map[string]any{"name": name, "hwaddr": mac, "hardware-address": mac}
		list := []map[string]any{}
		for _, a := range addrs {
			out[a.family] = a.ip + "/" + strconv.Itoa(a.prefix)
			list = append(list, map[string]any{"ip-address-type": a.family, "ip-address": a.ip, "prefix": a.prefix})
		}
		out["ip-addresses"] = list
		return out
	}
	res := []map[string]any{iface("lo", "00:00:00:00:00:00", addr{"inet", "127.0.0.1", 8}, addr{"inet6", "::1", 128})}
	for _, key := range sortedNetKeys(g.Conf) {
		opts := propertyString(g.Conf[key])
		var addrs []addr
		for family, k := range map[string]string{"inet": "ip", "inet6": "ip6"} {
			if p, err := netip.ParsePrefix(opts[k]); err == nil {
				addrs = append(addrs, addr{family, p.Addr().String(), p.Bits()})
			}
		}
		sort.Slice(addrs, func(i, j int) bool { return addrs[i].family < addrs[j].family })
		res = append(res, iface(opts["name"], strings.ToLower(opts["hwaddr"]), addrs...))
	}
	return res, nil
})

// sortedNetKeys lists the netN keys of a config in index order.
func sortedNetKeys(conf map[string]string) []string {
	var keys []int
	for k := range conf {
		if n, ok := strings.CutPrefix(k, "net"); ok {
			if i, err := strconv.Atoi(n); err == nil {
				keys = append(keys, i)
			}
		}
	}
	sort.Ints(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = "net" + strconv.Itoa(k)
	}
	return out
}

// propertyString splits a PVE property string ("name=eth0,bridge=vmbr0")
// into its keys and values.
func propertyString(v string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(kv, "=")
		out[k] = val
	}
	return out
}
