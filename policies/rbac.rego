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

config := object.get(data, "rbac", {})

claim_name := object.get(config, "claim", "roles")

identified if input.consumer != ""

identified if count(object.get(input, "claims", {})) > 0

roles contains role if {
	some role in object.get(config, ["consumers", input.consumer], [])
}

roles contains role if {
	value := input.claims[claim_name]
	is_array(value)
	some role in value
}

roles contains role if {
	value := input.claims[claim_name]
	is_string(value)
	some role in split(value, " ")
	role != ""
}

permits(p) if {
	method_allowed(p)
	some pattern in p.paths
	glob.match(pattern, ["/"], input.request.path)
}

method_allowed(p) if "*" in p.methods

method_allowed(p) if input.request.method in p.methods

public if {
	some p in object.get(config, "public", [])
	permits(p)
}

granting contains role if {
	some role in roles
	some p in object.get(config, ["roles", role], [])
	permits(p)
}

decision := {"allow": true, "reason": "rbac: public"} if {
	public
} else := {
	"allow": true,
	"headers": {"x-wasmgate-roles": concat(",", sort(granting))},
	"reason": sprintf("rbac: granted by %s", [concat(",", sort(granting))]),
} if {
	count(granting) > 0
} else := {"allow": false, "status": 401, "reason": "rbac: no identity"} if {
	not identified
} else := {
	"allow": false,
	"status": 403,
	"reason": sprintf("rbac: no role grants %s %s", [input.request.method, input.request.path]),
}
