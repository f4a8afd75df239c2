case "route-no-match" {
  behaviour = "A request no route matches goes to the listener's default upstream; on a listener without one it gets 404 from the gateway, and the upstreams see nothing."
  source    = "Huawei ELB default forwarding policy (the listener's default backend server group); Google Cloud ALB URL map default service; Gateway API HTTPRouteMatching (unmatched requests get 404)"

  backend "api" {}
  backend "default" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      chain    = "routing"
      upstream = "default"
    }
    listener "bare" {
      address  = "${listener.bare}"
      chain    = "routing"
    }
    chain "routing" {
      filter "routing" {
        module = "builtin:routing"
      }
    }
    upstream "api" {
      endpoint "${backend.api}" {}
    }
    upstream "default" {
      endpoint "${backend.default}" {}
    }
    route "api" {
      match {
        path_prefix = "/api"
      }
      upstream = "api"
    }
  EOT

  step "routed" {
    request {
      listener = "bare"
      path     = "/api/x"
    }
    expect {
      backend = "api"
    }
  }

  step "default-upstream" {
    request {
      listener = "web"
      path     = "/elsewhere"
    }
    expect {
      backend = "default"
      upstream_request {
        path = "/elsewhere"
      }
    }
  }

  step "no-default-404" {
    request {
      listener = "bare"
      path     = "/elsewhere"
    }
    expect {
      status         = 404
      headers_absent = ["x-backend"]
      backend_saw "api" {
        count = 0
      }
      backend_saw "default" {
        count  = 0
        within = "100ms"
      }
    }
  }
}
