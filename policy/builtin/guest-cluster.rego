# Built-in policy "guest-cluster": a guest stays on the Proxmox cluster it was
# applied on. Proxmox migrates a guest only within one cluster, so a guest
# whose spec.cluster changed would be destroyed with its disks on one cluster
# and made empty on the other; the proxmox backend refuses that at plan time,
# and this rule says so at push time (`runner check`), from the last applied
# spec in input.previous. A last spec without a cluster (applied under the
# single-host config form) is not judged here: whether the guest is on the
# cluster now named is live state, which the plan checks.
package runner.builtin.guest_cluster

guest_kinds := {"proxmox.lxc", "proxmox.vm"}

deny contains msg if {
	some prev in object.get(input, ["previous", "resources"], [])
	prev.kind in guest_kinds
	was := object.get(prev.spec, "cluster", "")
	was != ""
	some r in input.resources
	r.id == prev.id
	now := object.get(r.spec, "cluster", "")
	now != was
	msg := sprintf(
		"%s: cluster changed from %s to %s: Proxmox cannot move a guest between clusters, and the runner does not destroy it on %s to make an empty one on %s; to do that on purpose, declare the guest under a new name on %s and remove the old resource",
		[r.id, was, now, was, now, now],
	)
}
