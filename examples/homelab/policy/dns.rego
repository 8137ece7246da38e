# Public DNS hygiene for the Route 53 zones.
package dns

records contains r if {
	some r in input.resources
	r.kind == "route53.record"
}

private_ranges := ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]

# Route 53 serves the public internet: an A record must not leak an address
# of the LAN or the tinc/ocserv VPN.
deny contains msg if {
	some r in records
	r.spec.type == "A"
	some value in r.spec.values
	some cidr in private_ranges
	net.cidr_contains(cidr, value)
	msg := sprintf("%s: A record value %s is a private address (%s); it belongs in dnsmasq, not in public DNS", [r.id, value, cidr])
}

# Short TTLs are fine while migrating, but should not stay.
warn contains msg if {
	some r in records
	r.spec.ttl < 300
	msg := sprintf("%s: TTL %d is below 300 seconds", [r.id, r.spec.ttl])
}
