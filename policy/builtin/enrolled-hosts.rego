# Built-in policy "enrolled-hosts": a FreeIPA host that is enrolled (it has a
# keytab) is not deleted or replaced unless its last applied spec said
# deleteEnrolled: true. Deleting it would cut the machine off from FreeIPA.
#
# Whether a host has a keytab is live state, so this policy acts at plan time
# only; `runner check` (no plan) cannot know and lets the push through.
package runner.builtin.enrolled_hosts

deny contains msg if {
	some change in input.plan
	change.kind == "freeipa.host"
	change.action in {"delete", "replace"}
	object.get(change.before, "hasKeytab", false) == true
	object.get(change.before, "deleteEnrolled", false) != true
	msg := sprintf(
		"%s would be %s, but the host is enrolled (it has a keytab); push deleteEnrolled: true for it first, then %s",
		[change.id, past[change.action], next[change.action]],
	)
}

past := {"delete": "deleted", "replace": "replaced"}

next := {"delete": "remove it", "replace": "the change that replaces it"}
