case "redirect-path-status" {
  behaviour = "A redirect route replaces the whole path or only the matched prefix, keeps the query unless strip_query, and answers with the configured status (301, 302 by default, 303, 307, 308)."
  source    = "Gateway API conformance HTTPRouteRedirectPath (ReplaceFullPath, ReplacePrefixMatch) and HTTPRouteRedirectHostAndStatus (301/302); Google Cloud ALB urlRedirect (pathRedirect, prefixRedirect, stripQuery, redirectResponseCode 301/302/303/307/308); RFC 9110 §15.4"

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
    route "prefix-301" {
      match {
        path_prefix = "/docs/v0"
      }
      redirect {
        prefix = "/docs/v1"
        status = 301
      }
    }
    route "full-path-302" {
      match {
        path = "/old-login"
      }
      redirect {
        path = "/login"
      }
    }
    route "see-other-303" {
      match {
        path = "/submit"
      }
      redirect {
        path        = "/done"
        status      = 303
        strip_query = true
      }
    }
    route "temporary-307" {
      match {
        path_prefix = "/t"
      }
      redirect {
        prefix = "/temp"
        status = 307
      }
    }
    route "permanent-308" {
      match {
        path_prefix = "/p"
      }
      redirect {
        prefix = "/"
        status = 308
      }
    }
  EOT

  step "prefix-301" {
    request {
      authority = "example.com"
      path      = "/docs/v0/intro?lang=en"
    }
    expect {
      status         = 301
      headers        = { location = "${client.scheme}://example.com/docs/v1/intro?lang=en" }
      headers_absent = ["x-backend"]
    }
  }

  step "full-path-302-keeps-query" {
    request {
      authority = "example.com"
      path      = "/old-login?next=%2Fhome"
    }
    expect {
      status  = 302
      headers = { location = "${client.scheme}://example.com/login?next=%2Fhome" }
    }
  }

  step "strip-query-303" {
    request {
      method    = "POST"
      authority = "example.com"
      path      = "/submit?draft=1"
      body      = "a=1"
    }
    expect {
      status  = 303
      headers = { location = "${client.scheme}://example.com/done" }
    }
  }

  step "temporary-307" {
    request {
      method    = "POST"
      authority = "example.com"
      path      = "/t/x"
      body      = "a=1"
    }
    expect {
      status  = 307
      headers = { location = "${client.scheme}://example.com/temp/x" }
    }
  }

  step "permanent-308-prefix-to-root" {
    request {
      authority = "example.com"
      path      = "/p/a/b"
    }
    expect {
      status  = 308
      headers = { location = "${client.scheme}://example.com/a/b" }
    }
  }
}
