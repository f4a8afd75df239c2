# Role-based access control by consumer or JWT claims × method and path.
#
# Query: data.wasmgate.rbac.decision
#
# Configuration, in a data file (policy "x" { data = ["rbac.json"] }):
#
#   {"rbac": {
#     "consumers": {"alice": ["admin"], "bob": ["reader"]},
#     "claim": "roles",
#     "roles": {
#       "reader": [{"methods": ["GET", "HEAD"], "paths": ["/v1/**"]}],
#       "admin":  [{"methods": ["*"], "paths": ["/**"]}]
#     },
#     "public": [{"methods": ["GET"], "paths": ["/healthz"]}]
#   }}
#
# A request's roles are those its consumer (set by an auth filter) is bound
# to in "consumers", plus the values of its JWT claim named by "claim"
# (default "roles"; an array of strings, or one string of space-separated
# names such as an OAuth "scope"). A role grants a request when one of its
# permissions lists the method (or "*") and a path pattern that matches.
# Patterns are globs over "/"-separated segments: "*" matches within one
# segment, "**" across segments. "public" permissions need no identity.
#
# Decision: allow, adding "x-wasmgate-roles" (the granting roles, sorted,
# comma-separated) to the upstream request; 401 when the request has no
# identity; 403 when no role grants it.
package wasmgate.rbac

default config := {}

config := data.rbac

claim_name := object.get(config, "claim", "roles")

identified if input.consumer != ""

identified if count(input.claims) > 0

# The roles of the consumer an auth filter authenticated ...
roles contains role if some role in config.consumers[input.consumer]

# ... and those in its JWT claim: an array of names ...
roles contains role if {
	value := input.claims[claim_name]
	is_array(value)
	some role in value
}

# ... or one string of space-separated names (an OAuth scope).
roles contains role if {
	value := input.claims[claim_name]
	is_string(value)
	some role in split(value, " ")
	role != ""
}

# The roles that grant this request. Sets iterate in sorted order, so the
# header below lists them sorted.
granting contains role if {
	some role in roles
	some p in config.roles[role]
	p.methods[_] in {"*", input.request.method}
	glob.match(p.paths[_], ["/"], input.request.path)
}

# Public permissions need no identity.
public if {
	some p in config.public
	p.methods[_] in {"*", input.request.method}
	glob.match(p.paths[_], ["/"], input.request.path)
}

decision := {
	"allow": true,
	"headers": {"x-wasmgate-roles": concat(",", granting)},
	"reason": "rbac: granted",
} if {
	count(granting) > 0
} else := {"allow": true, "reason": "rbac: public"} if {
	public
} else := {"allow": false, "status": 401, "reason": "rbac: no identity"} if {
	not identified
} else := {
	"allow": false,
	"status": 403,
	"reason": sprintf("rbac: no role grants %s %s", [input.request.method, input.request.path]),
}
