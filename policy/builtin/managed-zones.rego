# Built-in policy "managed-zones": DNS records and certificates stay inside
# the zones the runner manages (data.runner.config.zones). With no zones
# configured it does nothing.
package runner.builtin.managed_zones

zones := {normalize(z) | some z in object.get(data.runner.config, "zones", [])}

managed := concat(", ", sort(zones))

# DNS names compare without case and without the trailing root dot.
normalize(name) := lower(trim_suffix(name, "."))

in_zone(name, zone) if name == zone

in_zone(name, zone) if endswith(name, concat("", [".", zone]))

in_managed_zone(name) if {
	some zone in zones
	in_zone(normalize(name), zone)
}

deny contains msg if {
	count(zones) > 0
	some r in input.resources
	r.kind == "route53.record"
	not normalize(r.spec.zone) in zones
	msg := sprintf("%s: zone %q is not a managed zone (managed: %s)", [r.id, r.spec.zone, managed])
}

# A record name that is absolute (ends in ".") must lie inside its zone; a
# relative name is inside by construction.
deny contains msg if {
	count(zones) > 0
	some r in input.resources
	r.kind == "route53.record"
	endswith(r.spec.name, ".")
	not in_zone(normalize(r.spec.name), normalize(r.spec.zone))
	msg := sprintf("%s: name %q is outside its zone %q", [r.id, r.spec.name, r.spec.zone])
}

deny contains msg if {
	count(zones) > 0
	some r in input.resources
	r.kind == "acme.certificate"
	some domain in r.spec.domains
	not in_managed_zone(trim_prefix(domain, "*."))
	msg := sprintf("%s: domain %q is not in a managed zone (managed: %s)", [r.id, domain, managed])
}
