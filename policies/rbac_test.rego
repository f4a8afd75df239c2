package wasmgate.rbac_test

import data.wasmgate.rbac

config := {
	"consumers": {"alice": ["admin"], "bob": ["reader"], "carol": []},
	"roles": {
		"reader": [{"methods": ["GET", "HEAD"], "paths": ["/v1/**"]}],
		"writer": [{"methods": ["POST", "PUT"], "paths": ["/v1/items", "/v1/items/*"]}],
		"admin": [{"methods": ["*"], "paths": ["/**"]}],
	},
	"public": [{"methods": ["GET"], "paths": ["/healthz"]}],
}

req(method, path) := {"method": method, "path": path}

test_consumer_role_allows if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "bob", "request": req("GET", "/v1/items/7")}
	d.allow
	d.headers["x-wasmgate-roles"] == "reader"
}

test_consumer_role_denies_other_method if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "bob", "request": req("DELETE", "/v1/items/7")}
	not d.allow
	d.status == 403
	d.reason == "rbac: no role grants DELETE /v1/items/7"
}

test_reader_cannot_leave_prefix if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "bob", "request": req("GET", "/admin")}
	not d.allow
}

test_prefix_is_not_a_string_prefix if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "bob", "request": req("GET", "/v10/x")}
	not d.allow
}

test_admin_wildcard_method if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "alice", "request": req("PATCH", "/anything/at/all")}
	d.allow
}

test_consumer_without_roles_is_forbidden if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "carol", "request": req("GET", "/v1/x")}
	d.status == 403
}

test_unknown_consumer_is_forbidden if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "mallory", "request": req("GET", "/v1/x")}
	d.status == 403
}

test_no_identity_is_unauthorized if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "", "request": req("GET", "/v1/x")}
	not d.allow
	d.status == 401
}

test_public_needs_no_identity if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "", "request": req("GET", "/healthz")}
	d.allow
}

test_claims_array if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "", "claims": {"roles": ["writer", "unknown"]}, "request": req("POST", "/v1/items")}
	d.allow
	d.headers["x-wasmgate-roles"] == "writer"
}

test_claims_space_separated_string if {
	d := rbac.decision with data.rbac as config
		with input as {"claims": {"roles": "reader writer"}, "request": req("PUT", "/v1/items/3")}
	d.allow
}

test_custom_claim_name if {
	cfg := object.union(config, {"claim": "scope"})
	d := rbac.decision with data.rbac as cfg
		with input as {"claims": {"scope": "reader", "roles": ["admin"]}, "request": req("DELETE", "/v1/x")}
	d.status == 403
}

test_consumer_and_claims_combine if {
	d := rbac.decision with data.rbac as config
		with input as {"consumer": "bob", "claims": {"roles": ["writer"]}, "request": req("POST", "/v1/items")}
	d.headers["x-wasmgate-roles"] == "writer"
	e := rbac.decision with data.rbac as config
		with input as {"consumer": "bob", "request": req("POST", "/v1/items")}
	not e.allow
}

test_no_configuration_denies if {
	d := rbac.decision with input as {"consumer": "alice", "request": req("GET", "/")}
	not d.allow
}
