case "route-path-exact-prefix" {
  behaviour = "Path matching: an exact path beats a prefix, the longest prefix wins, prefixes match whole segments only (/v1 matches /v1 and /v1/x, not /v10), and the query is not part of the path."
  source    = "Gateway API conformance HTTPRouteExactPathMatching, HTTPRoutePathMatchOrder and HTTPRouteMatching (PathPrefix is element-wise); Huawei ELB forwarding policies (exact > prefix)"

  backend "exact" {}
  backend "short" {}
  backend "long" {}
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
    upstream "short" {
      endpoint "${backend.short}" {}
    }
    upstream "long" {
      endpoint "${backend.long}" {}
    }
    upstream "default" {
      endpoint "${backend.default}" {}
    }
    route "v1" {
      match {
        path_prefix = "/v1"
      }
      upstream = "short"
    }
    route "v1-status" {
      match {
        path = "/v1/status"
      }
      upstream = "exact"
    }
    route "v1-users" {
      match {
        path_prefix = "/v1/users/"
      }
      upstream = "long"
    }
  EOT

  step "prefix-itself" {
    request {
      path = "/v1"
    }
    expect {
      backend = "short"
    }
  }

  step "prefix-below" {
    request {
      path = "/v1/orders/7"
    }
    expect {
      backend = "short"
      upstream_request {
        path = "/v1/orders/7"
      }
    }
  }

  step "exact-beats-prefix" {
    request {
      path = "/v1/status"
    }
    expect {
      backend = "exact"
    }
  }

  step "exact-ignores-query" {
    request {
      path = "/v1/status?verbose=1"
    }
    expect {
      backend = "exact"
      upstream_request {
        path = "/v1/status?verbose=1"
      }
    }
  }

  step "exact-is-exact" {
    request {
      path = "/v1/status/more"
    }
    expect {
      backend = "short"
    }
  }

  step "longest-prefix-wins" {
    request {
      path = "/v1/users/42"
    }
    expect {
      backend = "long"
    }
  }

  step "trailing-slash-prefix-matches-without-slash" {
    request {
      path = "/v1/users"
    }
    expect {
      backend = "long"
    }
  }

  step "segment-aware" {
    request {
      path = "/v10"
    }
    expect {
      backend = "default"
    }
  }

  step "segment-aware-deeper" {
    request {
      path = "/v1/usersX"
    }
    expect {
      backend = "short"
    }
  }
}
