# Built-in policy "capacity": the memory the desired guests of a node ask for
# must fit the node: sum of spec.memory (MiB) of the proxmox.lxc and
# proxmox.vm resources with spec.node == N must not exceed N's memory ×
# data.runner.config.overcommit (default 1).
#
# Node memory comes from live state (input.live.proxmox.nodes.N.memory, bytes)
# or, where live state has none (`runner check`), from
# data.runner.config.nodes.N.memory. A node with neither is not checked.
#
# With several Proxmox clusters (backends.proxmox.clusters) node names are
# per cluster: live state is input.live.proxmox.clusters.C.nodes.N, and a
# guest counts on node N of cluster C only when spec.cluster == C. Guests
# with a cluster are checked against live state only; the configured
# capacities (data.runner.config.nodes) apply to guests without one.
package runner.builtin.capacity

guest_kinds := {"proxmox.lxc", "proxmox.vm"}

mib := 1048576

ratio := object.get(data.runner.config, "overcommit", 1)

# Live state wins over configured capacities (object.union: right side wins).
nodes := object.union(
	object.get(data.runner.config, "nodes", {}),
	object.get(input, ["live", "proxmox", "nodes"], {}),
)

deny contains msg if {
	some node, info in nodes
	is_number(info.memory)
	info.memory > 0
	guests := [r |
		some r in input.resources
		r.kind in guest_kinds
		object.get(r.spec, "cluster", "") == ""
		r.spec.node == node
	]
	msg := over(sprintf("node %s", [node]), guests, info.memory)
}

deny contains msg if {
	some cluster, c in object.get(input, ["live", "proxmox", "clusters"], {})
	some node, info in object.get(c, "nodes", {})
	is_number(info.memory)
	info.memory > 0
	guests := [r |
		some r in input.resources
		r.kind in guest_kinds
		object.get(r.spec, "cluster", "") == cluster
		r.spec.node == node
	]
	msg := over(sprintf("cluster %s node %s", [cluster, node]), guests, info.memory)
}

# over is the finding when guests want more memory (MiB) than a node of
# memory bytes holds at the overcommit ratio; undefined when they fit.
over(where, guests, memory) := msg if {
	want := sum([object.get(g.spec, "memory", 0) | some g in guests])
	node_mib := floor(memory / mib)
	capacity := floor(node_mib * ratio)
	want > capacity
	msg := sprintf(
		"%s: %d guests want %s of memory, more than its capacity of %s (node memory %s × overcommit %v)",
		[where, count(guests), size(want), size(capacity), size(node_mib), ratio],
	)
}

# size renders MiB as "61440 MiB (60 GiB)".
size(m) := sprintf("%d MiB (%v GiB)", [m, round((m * 10) / 1024) / 10])
