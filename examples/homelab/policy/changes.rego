# Guard against pushes that remove a lot at once (a bad merge, a broken
# import): more than three deletions need "[mass-delete]" in the commit
# message. Works at push time (previous vs. desired resources) and at plan
# time alike.
package changes

max_deletes := 3

desired := {r.id | some r in input.resources}

# A renamed resource (same live object, see input.renames) is not removed.
renamed := {r.from | some r in object.get(input, "renames", [])}

# Nor is one a replay releases: an adopted resource it leaves as it is
# (plan action "release"; the plan is empty at push time).
released := {c.id | some c in object.get(input, "plan", []); c.action == "release"}

removed := {p.id |
	some p in object.get(input, ["previous", "resources"], [])
	not p.id in desired
	not p.id in renamed
	not p.id in released
}

deny contains msg if {
	count(removed) > max_deletes
	not contains(object.get(input, ["push", "message"], ""), "[mass-delete]")
	msg := sprintf(
		"this push removes %d resources (%s); more than %d needs \"[mass-delete]\" in the commit message",
		[count(removed), concat(", ", sort(removed)), max_deletes],
	)
}

# Deploys from branches other than main are unusual: say who did it.
warn contains msg if {
	input.push.ref != "refs/heads/main"
	msg := sprintf("deploy from %s by %s, not from refs/heads/main", [input.push.ref, input.push.user])
}
