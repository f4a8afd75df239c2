case "headers-modify" {
  behaviour = "builtin:headers removes, sets (replacing every value) and adds request and response header fields, in that order, with the variables $${route}, $${upstream} and $${client_ip} expanded."
  source    = "Gateway API conformance HTTPRouteRequestHeaderModifier and HTTPRouteResponseHeaderModifier (set/add/remove); Kong request-transformer and response-transformer; Huawei ELB forwarding rules that rewrite headers"

  backend "api" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      chain    = "edge"
    }
    chain "edge" {
      filter "routing" {
        module = "builtin:routing"
      }
      filter "headers" {
        module = "builtin:headers"
        config = {
          request = {
            remove = ["x-internal"]
            set    = { "x-client-ip" = "$$${client_ip}", "x-mode" = "set" }
            add    = { "x-route" = "$$${route}", "x-tag" = "gw" }
          }
          response = {
            remove = ["x-secret"]
            set    = { "x-frame-options" = "DENY", "x-cache" = "MISS" }
            add    = { "x-upstream" = "$$${upstream}", "x-trace" = "gw" }
          }
        }
      }
    }
    upstream "api" {
      endpoint "${backend.api}" {}
    }
    route "api" {
      match {
        path_prefix = "/api"
      }
      upstream = "api"
    }
  EOT

  step "request-headers" {
    request {
      path    = "/api/x"
      headers = { x-internal = "leak", x-mode = ["a", "b"], x-tag = "client" }
    }
    expect {
      upstream_request {
        headers = {
          x-client-ip = "${client.ip}"
          x-mode      = "set"
          x-route     = "api"
          x-tag       = "client, gw"
        }
        headers_absent = ["x-internal"]
      }
    }
  }

  step "response-headers" {
    request {
      path    = "/api/x"
      headers = { x-echo-header = ["X-Secret=s3cr3t", "X-Cache=HIT", "X-Trace=backend"] }
    }
    expect {
      headers = {
        x-frame-options = "DENY"
        x-cache         = "MISS"
        x-upstream      = "api"
        x-trace         = "backend, gw"
      }
      headers_absent = ["x-secret"]
    }
  }
}
