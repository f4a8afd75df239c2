package wasmgate.cidr_test

import data.wasmgate.cidr

config := {"allow": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"], "deny": ["10.6.6.0/24"]}

from(address) := {"source": {"address": address, "port": 40000}}

test_allowed_prefix if {
	d := cidr.decision with data.cidr as config with input as from("10.1.2.3")
	d.allow
}

test_allowed_ipv6 if {
	d := cidr.decision with data.cidr as config with input as from("2001:db8::42")
	d.allow
}

test_allowed_single_address if {
	d := cidr.decision with data.cidr as config with input as from("192.0.2.7")
	d.allow
}

test_deny_wins_over_allow if {
	d := cidr.decision with data.cidr as config with input as from("10.6.6.6")
	not d.allow
	d.status == 403
	d.reason == "cidr: 10.6.6.6 is on the deny list (10.6.6.0/24)"
}

test_not_on_allow_list if {
	d := cidr.decision with data.cidr as config with input as from("172.16.0.1")
	not d.allow
	d.reason == "cidr: 172.16.0.1 is not on the allow list"
}

test_empty_allow_list_allows_everyone_not_denied if {
	d := cidr.decision with data.cidr as {"deny": ["203.0.113.0/24"]} with input as from("198.51.100.1")
	d.allow
	e := cidr.decision with data.cidr as {"deny": ["203.0.113.0/24"]} with input as from("203.0.113.9")
	not e.allow
}

test_no_configuration_allows if {
	d := cidr.decision with input as from("198.51.100.1")
	d.allow
}
