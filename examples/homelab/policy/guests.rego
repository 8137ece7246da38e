# Guest sizing and safety rules for the homelab's Proxmox host.
package main

guest_kinds := {"proxmox.lxc", "proxmox.vm"}

guests contains r if {
	some r in input.resources
	r.kind in guest_kinds
}

# One guest may not take more than a third of the 48 GiB host.
max_guest_mib := 16384

deny contains msg if {
	some g in guests
	g.spec.memory > max_guest_mib
	msg := sprintf("%s asks for %d MiB of memory; a single guest may have at most %d MiB", [g.id, g.spec.memory, max_guest_mib])
}

# Containers below 256 MiB fail to boot a Debian userland reliably.
deny contains msg if {
	some g in guests
	g.kind == "proxmox.lxc"
	g.spec.memory < 256
	msg := sprintf("%s asks for %d MiB of memory; an LXC container needs at least 256 MiB", [g.id, g.spec.memory])
}

# Unprotected guests can be deleted by removing them from the repo: say so.
warn contains msg if {
	some g in guests
	g.spec.protect == false
	msg := sprintf("%s has protect: false; removing it from the repo deletes it and its disks", [g.id])
}
