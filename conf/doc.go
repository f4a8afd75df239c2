// Package conf loads wasmgate's HCL configuration into plain Go values and
// reports every mistake as an [hcl.Diagnostic] with its file, line and
// column.
//
// A configuration is one file or a directory of *.hcl files merged in name
// order, in HCL native syntax, made of these top-level blocks (see
// examples/full.hcl for all attributes and their defaults):
//
//	listener "NAME" { address = "host:port" ... }   // a client-facing socket
//	upstream "NAME" { endpoint "host:port" {} ... } // a pool of endpoints
//	chain "NAME" {                                  // stages, in order
//	  filter "NAME" { module = "builtin:NAME" | "path.wasm"  config = ANY }
//	  policy "NAME" { files = ["path.rego"] | dir = "path"  query = "data.PKG.RULE" }
//	}
//	route "NAME" {                                  // a forwarding rule (see [Route])
//	  match { host = "..."  path_prefix = "/v1" }   // for builtin:routing,
//	  to = { api = 90, api_canary = 10 }            // through [Config.RoutingJSON]
//	}
//	admin { address = "host:port"  allow = [...] }  // at most one: /metrics, /ready (see [Admin])
//
// A listener's access_log is "off" (the default), "stdout", "stderr" or a
// file path (relative to the config file): one JSON line per request.
//
// A filter stage also takes vm_config (for proxy_on_vm_start), root_id and
// vm_id (filters with one vm_id share shared data and queues), pool_size
// (instances), memory_limit (a size, per instance), timeout (per callback)
// buffer_body (a size: the filter sees request bodies up to it, and small
// upstream response bodies) and fail ("closed", the default, or "open").
//
// A policy stage also takes data (JSON/YAML files), fail, include_body,
// max_body, decision_log and engine: "auto" (the default: the policy
// compiled to WebAssembly when it can be, else OPA's interpreter), "wasm"
// or "rego".
//
// An upstream may also hold the traffic-management blocks (all optional):
//
//	health_check { path = "/healthz"  interval = "5s"  timeout = "3s"  healthy = 2  unhealthy = 3 }
//	outlier { consecutive_5xx = 5  base_ejection_time = "30s"  max_ejection_percent = 10 }
//	affinity { type = "cookie" | "app_cookie" | "source_ip" | "header"  ttl = "20m" }
//	circuit_breaker { max_connections = N  max_pending_requests = N  max_requests = N }
//	slow_start = "30s"
//
// and its retry block takes per_try_timeout, backoff, max_backoff,
// allow_post, allow_body, budget_percent and min_retry_concurrency next to
// attempts and on (which also accepts status codes such as "429"). See
// [HealthCheck], [Outlier], [Affinity], [CircuitBreaker] and [Retry] for
// every attribute and default. A health check timeout longer than its
// interval, an affinity ttl over 24h, same_site = "none" without secure,
// and an app_cookie affinity without a cookie name are diagnostics.
//
// Unknown blocks and attributes are errors. Names are unique per kind (stage
// names per chain). A null attribute is the same as an absent one.
//
// Values: durations are Go duration strings greater than zero ("500ms",
// "30s", "1h30m"); sizes are a whole number of bytes or a string with a
// binary unit ("16KiB", "10MiB", "1GiB"); relative paths (module, files,
// dir, data, decision_log, file()) start from the directory of the file
// that contains them.
//
// Expressions may call:
//
//	env("NAME")             the environment variable; an error if unset
//	env("NAME", "default")  the variable, or default if unset
//	file("path")            the text of a UTF-8 file of at most 16 MiB
//	jsonencode(value)       value as a JSON string
//
// The package only reads: it opens module and policy files to check that
// they are readable but does not compile them, and [CheckListenAddresses]
// is the only function that touches the network.
package conf
