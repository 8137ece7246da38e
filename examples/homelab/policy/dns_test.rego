package dns_test

import data.dns

record(name, type, values, ttl) := {
	"id": concat("/", ["route53.record", name]),
	"kind": "route53.record",
	"name": name,
	"spec": {"zone": "example.com", "name": name, "type": type, "ttl": ttl, "values": values},
}

test_private_a_record_denied if {
	msgs := dns.deny with input as {"version": 1, "resources": [record("nas", "A", ["192.168.1.20"], 3600)]}
	msgs == {"route53.record/nas: A record value 192.168.1.20 is a private address (192.168.0.0/16); it belongs in dnsmasq, not in public DNS"}
}

test_public_a_record_allowed if {
	msgs := dns.deny with input as {"version": 1, "resources": [record("www", "A", ["203.0.113.10"], 3600)]}
	count(msgs) == 0
}

test_txt_record_not_checked_as_address if {
	msgs := dns.deny with input as {"version": 1, "resources": [record("_acme", "TXT", ["10.0.0.1"], 3600)]}
	count(msgs) == 0
}

test_short_ttl_warned if {
	msgs := dns.warn with input as {"version": 1, "resources": [record("www", "A", ["203.0.113.10"], 60)]}
	count(msgs) == 1
}
