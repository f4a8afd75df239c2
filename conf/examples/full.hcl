# A complete example of the configuration shape wasmgate understands today.
# Durations are Go-style strings greater than zero ("500ms", "30s", "10m");
# sizes are strings with a binary unit ("16KiB", "10MiB", "1GiB") or a plain
# number of bytes. Any value may use env("NAME"), env("NAME", "default"),
# file("path") (the text of a file, relative to this file) and
# jsonencode(value). Unknown blocks and attributes are errors.

listener "web" {
  address  = "127.0.0.1:8080"    # host:port, required
  protocol = "http"              # http, the default (https comes with the TLS issue)
  chain    = "default"           # optional; no chain means no stages
  upstream = "api"               # default upstream for requests no route claims

  read_header_timeout = "10s"    # default 10s
  idle_timeout        = "610s"   # client keep-alive, default 610s (> upstream idle 600s)
  max_header_size     = "16KiB"  # default 16KiB, over it: 431
  max_body_size       = "1GiB"   # default 1GiB, over it: 413
  allow               = ["127.0.0.0/8", "::1/128"]  # source CIDR allow list, empty = everyone
}

upstream "api" {
  balancer        = "weighted_round_robin" # round_robin | weighted_round_robin | least_conn | random | p2c | source_ip_hash
  timeout         = "30s"    # response timeout, 504 when exceeded; default 30s
  connect_timeout = "5s"     # default 5s
  idle_timeout    = "600s"   # upstream keep-alive, default 600s
  max_connections = 1024     # per endpoint, default 1024

  endpoint "127.0.0.1:9001" { weight = 100 }  # weight 0..100, default 100; 0 = drained
  endpoint "127.0.0.1:9002" { weight = 50 }

  retry {
    attempts = 1                      # extra tries after the first, default 1
    on       = ["connect-failure"]    # connect-failure | reset | gateway-error | 5xx
  }
}

chain "default" {
  # Stages run in order on the request and in reverse on the response.
  filter "example" {
    module = "filters/example.wasm"   # a readable file, relative to this file, or builtin:NAME
    config = { greeting = "hello" }   # any value, handed to the filter as JSON; a string as is
    fail   = "closed"                 # closed (default) | open
  }
  policy "authz" {
    files = ["policies/authz.rego"]         # readable Rego files, relative to this file
    # dir = "policies"                      # and/or every *.rego below a directory (not *_test.rego)
    # data = ["policies/roles.json"]        # JSON/YAML documents merged into data
    query = "data.wasmgate.authz.decision"  # the default
    fail  = "closed"                        # closed: deny (403) when undefined or failing; open: skip
    # include_body = false                  # put the parsed request body into input.request.body
    # max_body     = "64KiB"                # larger bodies are denied with 413 when include_body is set
    # decision_log = "off"                  # off | stderr | PATH: one JSON line per decision
  }
}
