package main_test

import data.main

lxc(name, memory, protect) := {
	"id": concat("/", ["proxmox.lxc", name]),
	"kind": "proxmox.lxc",
	"name": name,
	"spec": {"node": "pve", "memory": memory, "protect": protect},
}

test_big_guest_denied if {
	msgs := main.deny with input as {"version": 1, "resources": [lxc("db", 32768, true)]}
	msgs == {"proxmox.lxc/db asks for 32768 MiB of memory; a single guest may have at most 16384 MiB"}
}

test_tiny_container_denied if {
	msgs := main.deny with input as {"version": 1, "resources": [lxc("dns", 128, true)]}
	count(msgs) == 1
}

test_normal_guest_allowed if {
	msgs := main.deny with input as {"version": 1, "resources": [lxc("nextcloud", 4096, true)]}
	count(msgs) == 0
}

test_unprotected_guest_warned if {
	msgs := main.warn with input as {"version": 1, "resources": [lxc("scratch", 1024, false)]}
	msgs == {"proxmox.lxc/scratch has protect: false; removing it from the repo deletes it and its disks"}
}
