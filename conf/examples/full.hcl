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
    on       = ["connect-failure"]    # connect-failure | reset | refused-stream | gateway-error | 5xx | "429" (a status)
    # per_try_timeout       = "10s"   # each try until the response head; default: the whole timeout
    # backoff               = "25ms"  # before a retry to an endpoint already tried: random up to backoff×2^(n-1)
    # max_backoff           = "250ms"
    # allow_post            = false   # retry non-idempotent methods that reached an endpoint
    # allow_body            = false   # retry requests with a (buffered) body
    # budget_percent        = 20      # retries in progress ≤ 20% of requests in progress ...
    # min_retry_concurrency = 3       # ... but 3 are always allowed
  }

  # Traffic management (each block optional; see the README's "Traffic management").
  slow_start = "30s"                  # ramp a recovered endpoint from 10% to its share; default off
  health_check {
    protocol  = "http"                # http | tcp
    method    = "GET"
    path      = "/healthz"            # default /
    # host    = "api.internal"        # Host header, default the endpoint address
    # port    = 9100                  # check another port
    status    = ["200", "202", "401"] # the default; ranges like "200-299" too
    interval  = "5s"
    timeout   = "3s"                  # <= interval
    healthy   = 2                     # successes to come back (a never-checked endpoint: 1)
    unhealthy = 3                     # failures to go out
    start     = "healthy"             # healthy (optimistic) | unhealthy
  }
  outlier {
    consecutive_5xx              = 5
    consecutive_connect_failures = 3
    base_ejection_time           = "30s"  # × the number of consecutive ejections
    max_ejection_time            = "300s"
    max_ejection_percent         = 10     # one endpoint may always be ejected
  }
  affinity {
    type      = "cookie"              # source_ip | cookie | app_cookie | header
    cookie    = "wg_affinity"         # app_cookie: the application's cookie name (required)
    # header  = "x-session"           # type = "header"
    ttl       = "20m"                 # at most 24h
    path      = "/"
    http_only = true
    secure    = false
    same_site = "lax"                 # lax | strict | none (needs secure)
    # key     = env("AFFINITY_KEY")   # HMAC-sign the cookie (>= 16 bytes)
  }
  circuit_breaker {
    max_connections      = 10000      # all endpoints together
    max_pending_requests = 1000       # waiting for a new connection
    max_requests         = 10000      # in flight
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

# Routes are read by the routing filter (module = "builtin:routing"): see
# go doc ./conf Route and filters/README.md. Exact paths beat prefixes (the
# longest first), prefixes beat regexes (in file order); routes with a host
# beat routes without; unmatched requests go to the listener's upstream, or
# get 404.
route "v1" {
  # listeners = ["web"]               # default: every listener
  match {                             # several match blocks are ORed; conditions in one are ANDed
    host        = "api.example.com"   # or a list; "*.example.com" wildcards
    path_prefix = "/v1"               # or path = "/exact", or path_regex = "^/v[0-9]+/"
    method      = ["GET", "POST"]
    header "x-env" { exact = "prod" } # or regex = "...", present = true | false
    # query "debug" { present = true }
  }
  to = { api = 100 }                  # split by weight (0 allowed), or upstream = "api"
  rewrite { path_prefix = "/" }       # or path = "/x"; host = "internal.example.com"
  # mirror { upstream = "shadow"  percent = 10 }
  timeout        = "10s"              # overrides the upstream's timeout
  retry_attempts = 0                  # overrides the upstream's retry attempts
}

route "old-docs" {
  match { path_prefix = "/docs/v0" }
  redirect {                          # scheme, host, port, path or prefix, strip_query
    prefix = "/docs/v1"
    status = 301                      # 301 | 302 (default) | 303 | 307 | 308
  }
}

route "healthz" {
  match { path = "/healthz" }
  respond {
    status  = 200
    body    = "ok\n"
    headers = { "content-type" = "text/plain" }
  }
}

# HTTPS, HTTP/2, HTTP/3 and redirects (commented out: the certificate files
# must exist; hack/certs.sh writes demo ones into certs/).
#
# listener "secure" {
#   address  = "0.0.0.0:8443"
#   protocol = "https"                 # TLS; http2 defaults to true here (ALPN h2 + http/1.1)
#   http2    = true                    # on a plain http listener: h2c with prior knowledge (default false)
#   http2_max_concurrent_streams = 250 # default 250
#   http2_stream_window     = "1MiB"   # default 1MiB
#   http2_connection_window = "4MiB"   # default 4MiB
#   http3    = true                    # HTTP/3 (QUIC) on the UDP side of the same port
#   quic     = "auto"                  # Alt-Svc advertising: auto (when http3) | on (error without http3) | off
#   upstream = "api"
#   tls {
#     certificate "site" {             # chosen by SNI from the certificate's DNS names (wildcards too)
#       cert_file = "certs/server.pem" # PEM chain, leaf first
#       key_file  = "certs/server.key" # PKCS#1, PKCS#8 or SEC 1; RSA or ECDSA
#       default   = true               # for names no certificate covers (default: the first)
#     }
#     client_ca_file = "certs/ca.pem"  # mutual TLS
#     client_auth    = "require"       # require (default with a CA) | verify_if_given | optional
#     min_version    = "1.2"           # 1.0 | 1.1 | 1.2 (default) | 1.3
#     cipher_suites  = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]  # TLS 1.2 suites; default Go's
#   }
# }
#
# listener "plain" {
#   address        = "0.0.0.0:8080"
#   redirect_https = "secure"          # 301 to https://HOST:8443/PATH?QUERY
# }
#
# upstream "grpc" {
#   protocol = "h2"                    # http (default) | https | h2 (HTTP/2 over TLS) | h2c
#   endpoint "10.0.0.5:8443" {}
#   tls {                              # https and h2 only
#     ca_file     = "certs/ca.pem"     # default: the system roots
#     server_name = "grpc.internal"    # default: the endpoint's host
#     # cert_file = "certs/client.pem"  key_file = "certs/client.key"   # client certificate
#     # insecure_skip_verify = false
#   }
# }

# The operators' listener: Prometheus metrics on /metrics, readiness on
# /ready. At most one; optional.
admin {
  address = "127.0.0.1:9901"     # host:port, required
  allow   = ["127.0.0.1", "::1"] # source CIDR allow list, empty = everyone
}
