# Method and path allow list.
#
# Query: data.wasmgate.allowlist.decision
#
# Configuration, in a data file:
#
#   {"allowlist": {
#     "rules": [
#       {"methods": ["GET", "HEAD"], "paths": ["/", "/static/**"]},
#       {"methods": ["*"], "paths": ["/api/v1/*/items"]}
#     ],
#     "status": 404
#   }}
#
# A request is allowed when a rule lists its method (or "*") and a path
# pattern that matches its path. Patterns are globs over "/"-separated
# segments: "*" matches within one segment, "**" across segments. Other
# requests are denied with "status" (default 403).
package wasmgate.allowlist

default config := {}

config := data.allowlist

permitted if {
	some rule in object.get(config, "rules", [])
	method_allowed(rule)
	some pattern in rule.paths
	glob.match(pattern, ["/"], input.request.path)
}

method_allowed(rule) if "*" in rule.methods

method_allowed(rule) if input.request.method in rule.methods

decision := {"allow": true} if {
	permitted
} else := {
	"allow": false,
	"status": object.get(config, "status", 403),
	"reason": sprintf("allowlist: %s %s is not allowed", [input.request.method, input.request.path]),
}
