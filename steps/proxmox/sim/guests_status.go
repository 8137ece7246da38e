package sim

import (
	"strings"
)

// Guest lists and status: the lxc/qemu indexes and status/current.

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
