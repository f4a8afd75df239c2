# Every route feature, over two listeners. RoutingJSON's output for each
# listener is in routes.golden; filters/routing's tests decode it too.
listener "public" {
  address  = "127.0.0.1:8080"
  upstream = "web"
}

listener "admin" {
  address = "127.0.0.1:8081"
}

upstream "web" {
  endpoint "127.0.0.1:9001" {}
}

upstream "api" {
  endpoint "127.0.0.1:9002" {}
}

upstream "api_canary" {
  endpoint "127.0.0.1:9003" {}
}

upstream "shadow" {
  endpoint "127.0.0.1:9004" {}
}

route "v1" {
  match {
    host        = ["api.example.com", "*.api.example.com"]
    path_prefix = "/v1"
    method      = ["GET", "POST"]
  }
  match {
    host = "API.example.com"
    path_prefix = "/v1-legacy"
    header "X-Version" { exact = "1" }
  }
  to {
    api        = 90
    api_canary = 10
    web        = 0
  }
  rewrite {
    path_prefix = "/"
    host        = "api.internal"
  }
  mirror {
    upstream = "shadow"
    percent  = 5
  }
  timeout        = "90s"
  retry_attempts = 0
}

route "items" {
  match {
    path_regex = "^/items/[0-9]+$"
    header "x-debug" { present = false }
    header "user-agent" { regex = "(?i)curl" }
    query "format" { exact = "json" }
    query "trace" { present = true }
  }
  upstream = "api"
  rewrite { path = "/item" }
}

route "old" {
  match { path_prefix = "/old" }
  redirect {
    scheme      = "https"
    prefix      = "/new"
    strip_query = true
    status      = 308
  }
}

route "moved" {
  match { path = "/moved" }
  redirect { host = "example.org" }
}

route "health" {
  listeners = ["admin"]
  match { path = "/healthz" }
  respond {
    status  = 200
    body    = "ok\n"
    headers = { "Content-Type" = "text/plain" }
  }
}

# The object form of to, with a quoted name and a weight from env().
route "objects" {
  match { path_prefix = "/objects" }
  to = { web = 3, "api_canary" = env("WASMGATE_TEST_UNSET_WEIGHT", "1") }
}
