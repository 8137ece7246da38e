# Built-in policy "freeipa-own-objects": the objects ipa-server-install
# creates and FreeIPA itself depends on are never deleted or replaced by the
# runner, and the admins group keeps the admin user. A repo may adopt them
# (adopt: true) to manage their other fields, e.g. more members of admins.
#
# FreeIPA's own objects (FreeIPA's server installation, "ipa-server-install"):
# the user admin; the groups admins, editors, ipausers and "trust admins";
# the host group ipaservers; and the hosts that are FreeIPA servers (the
# backend marks them ipaServer in a change's before view).
package runner.builtin.freeipa_own_objects

own_keys := {
	"freeipa.user": {"admin"},
	"freeipa.group": {"admins", "editors", "ipausers", "trust admins"},
	"freeipa.hostgroup": {"ipaservers"},
}

key_field := {"freeipa.user": "uid", "freeipa.group": "name", "freeipa.hostgroup": "name"}

# own(kind, view): view (a spec or a before view) is one of FreeIPA's own
# objects of kind.
own(kind, view) if object.get(view, key_field[kind], "") in own_keys[kind]

own(kind, view) if {
	kind == "freeipa.host"
	object.get(view, "ipaServer", false) == true
}

# At plan time: the plan deletes or replaces one of FreeIPA's own objects.
deny contains msg if {
	some change in input.plan
	change.action in {"delete", "replace"}
	own(change.kind, object.get(change, "before", {}))
	msg := sprintf(
		"%s would be %s, but it is one of FreeIPA's own objects (created by ipa-server-install; FreeIPA needs it); keep it in the repo (or, if you really mean it, switch off this built-in in the runner configuration: policy.disabled)",
		[change.id, past[change.action]],
	)
}

past := {"delete": "deleted", "replace": "replaced"}

# At push time (no plan): an own object the runner applied last time is
# missing from the pushed commit, so the run would delete it (at plan time
# the plan rule gives the same message: one finding).
deny contains msg if {
	desired := {r.id | some r in input.resources}
	released := {c.id | some c in object.get(input, "plan", []); c.action == "release"}
	some prev in object.get(input, ["previous", "resources"], [])
	not prev.id in desired
	not prev.id in released
	own(prev.kind, prev.spec)
	msg := sprintf(
		"%s would be deleted, but it is one of FreeIPA's own objects (created by ipa-server-install; FreeIPA needs it); keep it in the repo (or, if you really mean it, switch off this built-in in the runner configuration: policy.disabled)",
		[prev.id],
	)
}

# The admins group's members, when the repo sets them, include admin:
# without it FreeIPA's administrator loses its rights.
deny contains msg if {
	some r in input.resources
	r.kind == "freeipa.group"
	r.spec.name == "admins"
	users := object.get(r.spec, "users", null)
	users != null
	not "admin" in users
	msg := sprintf(
		"%s: users must include admin (FreeIPA's administrator is a member of admins; removing it takes its rights away); add admin to users",
		[r.id],
	)
}
