# Built-in policy "protected-guests": a guest whose last applied spec says
# protect: true is never deleted or replaced. To delete or replace one, push
# protect: false for it first (that push is a plain update), then the change.
package runner.builtin.protected_guests

guest_kinds := {"proxmox.lxc", "proxmox.vm"}

# A spec without a protect field counts as protected: guests default to
# protect: true, so a missing field errs on the safe side.
protected(spec) if object.get(spec, "protect", true) != false

# At plan time: the plan deletes or replaces a protected guest.
deny contains msg if {
	some change in input.plan
	change.kind in guest_kinds
	change.action == "delete"
	protected(change.before)
	msg := delete_message(change.id)
}

deny contains msg if {
	some change in input.plan
	change.kind in guest_kinds
	change.action == "replace"
	protected(change.before)
	fields := concat(", ", sort([f.path | some f in object.get(change, "fields", [])]))
	msg := sprintf(
		"%s would be replaced (changed: %s), but it is protected (protect: true in its last applied spec); push protect: false for it first, then the change that replaces it",
		[change.id, fields],
	)
}

# At push time (`runner check`, no plan): a protected guest that was applied
# last time is missing from the pushed commit, so the run would delete it.
# At plan time this gives the same message as the plan rule (one finding).
# A guest renamed in the repo (same VMID, see input.renames) is not deleted:
# its inventory entry moves to the new name; nor is one a replay releases
# (plan action "release": adopted after the replayed commit, left as it is).
deny contains msg if {
	desired := {r.id | some r in input.resources}
	renamed := {r.from | some r in object.get(input, "renames", [])}
	released := {c.id | some c in object.get(input, "plan", []); c.action == "release"}
	some prev in object.get(input, ["previous", "resources"], [])
	prev.kind in guest_kinds
	not prev.id in desired
	not prev.id in renamed
	not prev.id in released
	protected(prev.spec)
	msg := delete_message(prev.id)
}

delete_message(id) := sprintf(
	"%s would be deleted, but it is protected (protect: true in its last applied spec); push protect: false for it first, then remove it",
	[id],
)
