case "route-host-and-path" {
  behaviour = "Requests are forwarded by host (exact) and path (exact before prefix); anything unmatched goes to the listener's default upstream."
  source    = "Huawei ELB forwarding policies (domain name and URL; exact > prefix > regex); Gateway API HTTPRouteMatching and HTTPRouteExactPathMatching"

  backend "api" {}
  backend "exact" {}
  backend "default" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      chain    = "routing"
      upstream = "default"
    }
    chain "routing" {
      filter "routing" {
        module = "builtin:routing"
      }
    }
    upstream "api" {
      endpoint "${backend.api}" {}
    }
    upstream "exact" {
      endpoint "${backend.exact}" {}
    }
    upstream "default" {
      endpoint "${backend.default}" {}
    }
    route "v1-prefix" {
      match {
        host        = "api.example.com"
        path_prefix = "/v1"
      }
      upstream = "api"
    }
    route "v1-exact" {
      match {
        host = "api.example.com"
        path = "/v1/status"
      }
      upstream = "exact"
    }
  EOT

  step "prefix" {
    request {
      authority = "api.example.com"
      path      = "/v1/users"
    }
    expect {
      backend = "api"
    }
  }

  step "exact-wins" {
    request {
      authority = "api.example.com"
      path      = "/v1/status"
    }
    expect {
      backend = "exact"
    }
  }

  step "other-host" {
    request {
      authority = "www.example.com"
      path      = "/v1/users"
    }
    expect {
      backend = "default"
    }
  }
}
