# Source address allow and deny lists.
#
# Query: data.wasmgate.cidr.decision
#
# Configuration, in a data file:
#
#   {"cidr": {
#     "allow": ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"],
#     "deny":  ["10.6.6.0/24"]
#   }}
#
# A source address on the deny list is denied; otherwise it is allowed when
# the allow list is empty or absent, or contains it. Entries are CIDR
# prefixes or single addresses. Denies answer 403.
package wasmgate.cidr

default config := {}

config := data.cidr

address := input.source.address

denied_by contains c if {
	some c in object.get(config, "deny", [])
	contains_address(c)
}

allowed if count(object.get(config, "allow", [])) == 0

allowed if {
	some c in config.allow
	contains_address(c)
}

contains_address(c) if {
	contains(c, "/")
	net.cidr_contains(c, address)
}

contains_address(c) if {
	not contains(c, "/")
	c == address
}

decision := {
	"allow": false,
	"status": 403,
	"reason": sprintf("cidr: %s is on the deny list (%s)", [address, concat(", ", sort(denied_by))]),
} if {
	count(denied_by) > 0
} else := {"allow": true} if {
	allowed
} else := {
	"allow": false,
	"status": 403,
	"reason": sprintf("cidr: %s is not on the allow list", [address]),
}
