case "redirect-scheme-host-port" {
  behaviour = "A redirect route replaces the scheme, host and/or port of the request's URL in Location and keeps the rest; a set scheme implies its well-known port (the request's port is dropped), and :80 on http and :443 on https are left out."
  source    = "Gateway API conformance HTTPRouteRedirectScheme, HTTPRouteRedirectHostAndStatus and HTTPRouteRedirectPort; Google Cloud ALB URL map urlRedirect (hostRedirect, httpsRedirect); Huawei ELB redirect to another listener"

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
    route "to-https" {
      match {
        path_prefix = "/secure"
      }
      redirect {
        scheme = "https"
        status = 301
      }
    }
    route "to-https-443" {
      match {
        path_prefix = "/secure443"
      }
      redirect {
        scheme = "https"
        port   = 443
        status = 301
      }
    }
    route "to-host" {
      match {
        path_prefix = "/moved"
      }
      redirect {
        host = "new.example.com"
      }
    }
    route "to-port" {
      match {
        path_prefix = "/port"
      }
      redirect {
        port = 8081
      }
    }
    route "to-http-80" {
      match {
        path_prefix = "/plain"
      }
      redirect {
        scheme = "http"
        port   = 80
      }
    }
  EOT

  step "scheme" {
    request {
      authority = "shop.example.com:8080"
      path      = "/secure/cart?id=7"
    }
    expect {
      status         = 301
      headers        = { location = "https://shop.example.com/secure/cart?id=7" }
      headers_absent = ["x-backend"]
    }
  }

  step "scheme-and-well-known-port" {
    request {
      authority = "shop.example.com"
      path      = "/secure443/x"
    }
    expect {
      status  = 301
      headers = { location = "https://shop.example.com/secure443/x" }
    }
  }

  step "host-keeps-port-and-path" {
    request {
      authority = "old.example.com:8080"
      path      = "/moved/a?b=c"
    }
    expect {
      status  = 302
      headers = { location = "${client.scheme}://new.example.com:8080/moved/a?b=c" }
    }
  }

  step "port" {
    request {
      authority = "shop.example.com"
      path      = "/port/x"
    }
    expect {
      status  = 302
      headers = { location = "${client.scheme}://shop.example.com:8081/port/x" }
    }
  }

  step "http-port-80-left-out" {
    request {
      authority = "shop.example.com:8080"
      path      = "/plain/x"
    }
    expect {
      status  = 302
      headers = { location = "http://shop.example.com/plain/x" }
    }
  }
}
