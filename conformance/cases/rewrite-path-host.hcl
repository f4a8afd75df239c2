case "rewrite-path-host" {
  behaviour = "A route rewrites the forwarded request: a prefix rewrite replaces only the matched prefix (stripping it to \"/\" when the rest is empty), a full rewrite replaces the path and keeps the query, and a host rewrite sets the Host the upstream sees; the client's response is the upstream's."
  source    = "Gateway API conformance HTTPRouteRewritePath (ReplacePrefixMatch, ReplaceFullPath) and HTTPRouteRewriteHost; Huawei ELB URL rewrite; Kong route strip_path; Google Cloud ALB urlRewrite (pathPrefixRewrite, hostRewrite)"

  backend "api" {}

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
    upstream "api" {
      endpoint "${backend.api}" {}
    }
    route "strip" {
      match {
        path_prefix = "/api"
      }
      upstream = "api"
      rewrite {
        path_prefix = "/"
      }
    }
    route "replace-prefix" {
      match {
        path_prefix = "/v1/shop"
      }
      upstream = "api"
      rewrite {
        path_prefix = "/store"
        host        = "store.internal"
      }
    }
    route "full" {
      match {
        path_prefix = "/legacy"
      }
      upstream = "api"
      rewrite {
        path = "/modern/handler"
      }
    }
  EOT

  step "strip-prefix" {
    request {
      path = "/api/users/7?x=1"
    }
    expect {
      backend = "api"
      upstream_request {
        path = "/users/7?x=1"
      }
    }
  }

  step "strip-to-root" {
    request {
      path = "/api"
    }
    expect {
      upstream_request {
        path = "/"
      }
    }
  }

  step "strip-to-root-trailing-slash" {
    request {
      path = "/api/"
    }
    expect {
      upstream_request {
        path = "/"
      }
    }
  }

  step "replace-prefix-and-host" {
    request {
      authority = "www.example.com"
      path      = "/v1/shop/cart"
    }
    expect {
      upstream_request {
        path = "/store/cart"
        host = "store.internal"
      }
    }
  }

  step "full-path-keeps-query" {
    request {
      path = "/legacy/anything/here?q=1"
    }
    expect {
      upstream_request {
        path = "/modern/handler?q=1"
      }
    }
  }
}
