package wasmgate.allowlist_test

import data.wasmgate.allowlist

config := {"rules": [
	{"methods": ["GET", "HEAD"], "paths": ["/", "/static/**"]},
	{"methods": ["*"], "paths": ["/api/v1/*/items"]},
]}

req(method, path) := {"request": {"method": method, "path": path}}

test_exact_path if {
	d := allowlist.decision with data.allowlist as config with input as req("GET", "/")
	d.allow
}

test_recursive_glob if {
	d := allowlist.decision with data.allowlist as config with input as req("HEAD", "/static/css/site.css")
	d.allow
}

test_single_segment_glob if {
	d := allowlist.decision with data.allowlist as config with input as req("DELETE", "/api/v1/42/items")
	d.allow
	e := allowlist.decision with data.allowlist as config with input as req("DELETE", "/api/v1/42/43/items")
	not e.allow
}

test_method_not_listed if {
	d := allowlist.decision with data.allowlist as config with input as req("POST", "/static/x")
	not d.allow
	d.status == 403
	d.reason == "allowlist: POST /static/x is not allowed"
}

test_custom_status if {
	d := allowlist.decision with data.allowlist as object.union(config, {"status": 404}) with input as req("GET", "/secret")
	d.status == 404
}

test_no_configuration_denies if {
	d := allowlist.decision with input as req("GET", "/")
	not d.allow
}
