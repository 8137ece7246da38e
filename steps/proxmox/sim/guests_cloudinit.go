package sim

import (
	"maps"
	"slices"
	"sort"
)

// Cloud-init: GET .../cloudinit and PUT .../cloudinit (regenerate).

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
	for _, k := range slices.Sorted(maps.Keys(keys)) {
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
