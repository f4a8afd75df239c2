case "route-host-wildcard" {
  behaviour = "Host matching: exact host routes beat wildcard hosts, *.example.com matches one or more labels but not example.com itself, case and port are ignored, and host-less routes come last."
  source    = "Gateway API conformance HTTPRouteHostnameIntersection and HTTPRouteListenerHostnameMatching (wildcard hostnames); Huawei ELB forwarding policies (exact and wildcard domain names); Envoy virtual host domains"

  backend "exact" {}
  backend "wild" {}
  backend "any" {}
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
    upstream "exact" {
      endpoint "${backend.exact}" {}
    }
    upstream "wild" {
      endpoint "${backend.wild}" {}
    }
    upstream "any" {
      endpoint "${backend.any}" {}
    }
    upstream "default" {
      endpoint "${backend.default}" {}
    }
    route "any-host-app" {
      match {
        path_prefix = "/app"
      }
      upstream = "any"
    }
    route "wildcard" {
      match {
        host        = "*.example.com"
        path_prefix = "/"
      }
      upstream = "wild"
    }
    route "exact" {
      match {
        host        = "shop.example.com"
        path_prefix = "/"
      }
      upstream = "exact"
    }
  EOT

  step "exact-host" {
    request {
      authority = "shop.example.com"
      path      = "/app/cart"
    }
    expect {
      backend = "exact"
    }
  }

  step "exact-host-case-and-port-ignored" {
    request {
      authority = "SHOP.Example.COM:8443"
    }
    expect {
      backend = "exact"
    }
  }

  step "wildcard-one-label" {
    request {
      authority = "blog.example.com"
      path      = "/app"
    }
    expect {
      backend = "wild"
    }
  }

  step "wildcard-several-labels" {
    request {
      authority = "a.b.example.com"
    }
    expect {
      backend = "wild"
    }
  }

  step "wildcard-not-apex" {
    request {
      authority = "example.com"
      path      = "/app"
    }
    expect {
      backend = "any"
    }
  }

  step "other-host-falls-back" {
    request {
      authority = "example.org"
      path      = "/other"
    }
    expect {
      backend = "default"
    }
  }
}
