case "filter-local-response" {
  behaviour = "A WASM filter's local response (the routing filter's respond action) is sent as configured, status, body and headers, without contacting an upstream."
  source    = "Envoy route direct_response (status and body); Kong request-termination plugin; Proxy-Wasm ABI 0.2.1 proxy_send_local_response"

  backend "app" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      chain    = "routing"
      upstream = "app"
    }
    chain "routing" {
      filter "routing" {
        module = "builtin:routing"
      }
    }
    upstream "app" {
      endpoint "${backend.app}" {}
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
    route "gone" {
      match {
        path_prefix = "/retired"
      }
      respond {
        status  = 410
        body    = "this API was retired"
        headers = { "x-retired-since" = "2024" }
      }
    }
  EOT

  step "health" {
    request {
      path = "/healthz"
    }
    expect {
      status         = 200
      body_contains  = "ok"
      body_size      = 3
      headers        = { content-type = "text/plain" }
      headers_absent = ["x-backend"]
    }
  }

  step "gone" {
    request {
      path = "/retired/v0"
    }
    expect {
      status         = 410
      body_contains  = "this API was retired"
      headers        = { x-retired-since = "2024" }
      headers_absent = ["x-backend"]
    }
  }

  step "others-forwarded" {
    request {
      path = "/healthz/deep"
    }
    expect {
      backend = "app"
    }
  }
}
