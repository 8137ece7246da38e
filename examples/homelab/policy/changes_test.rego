package changes_test

import data.changes

previous := {"resources": [
	{"id": "proxmox.lxc/a", "kind": "proxmox.lxc", "name": "a", "spec": {}},
	{"id": "proxmox.lxc/b", "kind": "proxmox.lxc", "name": "b", "spec": {}},
	{"id": "proxmox.lxc/c", "kind": "proxmox.lxc", "name": "c", "spec": {}},
	{"id": "proxmox.lxc/d", "kind": "proxmox.lxc", "name": "d", "spec": {}},
]}

push(message) := {"user": "alice", "ref": "refs/heads/main", "message": message}

test_mass_delete_denied if {
	msgs := changes.deny with input as {"version": 1, "resources": [], "previous": previous, "push": push("cleanup")}
	count(msgs) == 1
}

test_mass_delete_allowed_with_marker if {
	msgs := changes.deny with input as {"version": 1, "resources": [], "previous": previous, "push": push("cleanup [mass-delete]")}
	count(msgs) == 0
}

test_few_deletes_allowed if {
	keep := [r | some r in previous.resources; r.id != "proxmox.lxc/a"]
	msgs := changes.deny with input as {"version": 1, "resources": keep, "previous": previous, "push": push("drop a")}
	count(msgs) == 0
}

# A replay to before an import releases what the import adopted: nothing
# is deleted, so no marker is needed (a replay's message is the old one's).
test_release_is_no_removal if {
	plan := [{"id": r.id, "action": "release"} | some r in previous.resources]
	msgs := changes.deny with input as {"version": 1, "resources": [], "previous": previous, "plan": plan, "push": push("import")}
	count(msgs) == 0
}

test_branch_deploy_warned if {
	msgs := changes.warn with input as {"version": 1, "resources": [], "push": {"user": "bob", "ref": "refs/heads/test"}}
	msgs == {"deploy from refs/heads/test by bob, not from refs/heads/main"}
}
