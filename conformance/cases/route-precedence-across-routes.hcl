case "route-precedence-across-routes" {
  behaviour = "Across routes, a route for the request's exact host beats a host-less route even when the host-less route's path is more specific; the first matching route in precedence order wins, not the first in the file."
  source    = "Gateway API conformance HTTPRouteMatchingAcrossRoutes and HTTPRouteHostnameIntersection (hostname before path); Envoy selects the virtual host by domain before matching routes"

  backend "hosted" {}
  backend "hostless" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      chain    = "routing"
    }
    chain "routing" {
      filter "routing" {
        module = "builtin:routing"
      }
    }
    upstream "hosted" {
      endpoint "${backend.hosted}" {}
    }
    upstream "hostless" {
      endpoint "${backend.hostless}" {}
    }
    route "no-host-exact" {
      match {
        path = "/orders/list"
      }
      upstream = "hostless"
    }
    route "host-prefix" {
      match {
        host        = "api.example.com"
        path_prefix = "/orders"
      }
      upstream = "hosted"
    }
  EOT

  step "host-specific-beats-more-specific-path" {
    request {
      authority = "api.example.com"
      path      = "/orders/list"
    }
    expect {
      backend = "hosted"
    }
  }

  step "other-host-uses-host-less-route" {
    request {
      authority = "www.example.com"
      path      = "/orders/list"
    }
    expect {
      backend = "hostless"
    }
  }

  step "no-route-no-default-404" {
    request {
      authority = "www.example.com"
      path      = "/orders"
    }
    expect {
      status         = 404
      headers_absent = ["x-backend"]
    }
  }
}
