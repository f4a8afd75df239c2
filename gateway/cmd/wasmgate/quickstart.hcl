# The quickstart: `wasmgate run` with no -c serves this on 127.0.0.1:8080, in
# front of two demo echo backends the binary starts itself: "web" on
# 127.0.0.1:9081 and "api" on 127.0.0.1:9082. Every request runs through the
# built-in chain: routing, auth (on /admin only) and response headers.

listener "quickstart" {
  address  = "127.0.0.1:8080"
  protocol = "http"
  chain    = "default"
  upstream = "web" # what no route claims
}

# Prometheus metrics on http://127.0.0.1:9901/metrics, readiness on /ready.
admin {
  address = "127.0.0.1:9901"
}

upstream "web" {
  endpoint "127.0.0.1:9081" {}
}

upstream "api" {
  endpoint "127.0.0.1:9082" {}
}

# /api/... goes to the api backend with the /api prefix stripped.
route "api" {
  match {
    path_prefix = "/api"
  }
  to = { api = 100 }
  rewrite {
    path_prefix = "/"
  }
}

# The old documentation path moved.
route "old-docs" {
  match {
    path_prefix = "/docs/v0"
  }
  redirect {
    prefix = "/docs/v1"
    status = 301
  }
}

route "healthz" {
  match {
    path = "/healthz"
  }
  respond {
    status  = 200
    body    = "ok\n"
    headers = { "content-type" = "text/plain" }
  }
}

chain "default" {
  filter "routing" {
    module = "builtin:routing" # its routes are the route blocks above
  }
  filter "auth" {
    module = "builtin:auth"
    config = {
      type      = "key"
      keys      = { alice = env("WASMGATE_QUICKSTART_KEY", "alice-key") }
      protected = { paths = ["/admin"] }
    }
  }
  filter "headers" {
    module = "builtin:headers"
    config = {
      response = {
        set = {
          "x-frame-options" = "DENY"
          "x-served-by"     = "$${upstream}"
        }
      }
    }
  }
}
