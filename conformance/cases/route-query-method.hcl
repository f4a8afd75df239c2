case "route-query-method" {
  behaviour = "Query parameter conditions (exact on the URL-decoded value, regex, presence) and method conditions select routes; a request failing any condition falls through."
  source    = "Gateway API conformance HTTPRouteQueryParamMatching and HTTPRouteMethodMatching; Huawei ELB forwarding policies (query string, HTTP request method)"

  backend "reports" {}
  backend "writes" {}
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
    upstream "reports" {
      endpoint "${backend.reports}" {}
    }
    upstream "writes" {
      endpoint "${backend.writes}" {}
    }
    upstream "default" {
      endpoint "${backend.default}" {}
    }
    route "reports" {
      match {
        path = "/search"
        query "format" {
          regex = "^(csv|pdf)$"
        }
        query "owner" {
          exact = "ann lee"
        }
      }
      upstream = "reports"
    }
    route "writes" {
      match {
        path_prefix = "/items"
        method      = ["POST", "PUT"]
      }
      upstream = "writes"
    }
  EOT

  step "query-matches" {
    request {
      path = "/search?format=csv&owner=ann%20lee"
    }
    expect {
      backend = "reports"
    }
  }

  step "query-plus-decoded" {
    request {
      path = "/search?owner=ann+lee&format=pdf"
    }
    expect {
      backend = "reports"
    }
  }

  step "query-regex-fails" {
    request {
      path = "/search?format=xml&owner=ann%20lee"
    }
    expect {
      backend = "default"
    }
  }

  step "query-missing" {
    request {
      path = "/search?format=csv"
    }
    expect {
      backend = "default"
    }
  }

  step "method-matches" {
    request {
      method = "PUT"
      path   = "/items/3"
      body   = "{}"
    }
    expect {
      backend = "writes"
    }
  }

  step "method-does-not-match" {
    request {
      method = "GET"
      path   = "/items/3"
    }
    expect {
      backend = "default"
    }
  }
}
