case "auth-key-401" {
  behaviour = "Key auth answers 401 with a WWW-Authenticate challenge before the upstream sees anything when a protected request carries no key or a wrong one; with a valid key (header or query) the request passes and the key is not forwarded."
  source    = "Kong key-auth plugin (401 \"No API key found in request\", hide_credentials); DESIGN §8 access control (401 before the upstream); RFC 9110 §11.6.1 (WWW-Authenticate with 401)"

  backend "api" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      chain    = "secured"
      upstream = "api"
    }
    chain "secured" {
      filter "auth" {
        module = "builtin:auth"
        config = {
          type      = "key"
          keys      = { alice = "alice-key" }
          protected = { paths = ["/admin"] }
        }
      }
    }
    upstream "api" {
      endpoint "${backend.api}" {}
    }
  EOT

  step "missing-key" {
    request {
      path = "/admin/users"
    }
    expect {
      status          = 401
      headers_present = ["www-authenticate"]
      headers_absent  = ["x-backend"]
      backend_saw "api" {
        count  = 0
        within = "100ms"
      }
    }
  }

  step "wrong-key" {
    request {
      path    = "/admin/users"
      headers = { x-api-key = "mallory-key" }
    }
    expect {
      status         = 401
      headers_absent = ["x-backend"]
      backend_saw "api" {
        count  = 0
        within = "100ms"
      }
    }
  }

  step "key-in-header" {
    request {
      path    = "/admin/users"
      headers = { x-api-key = "alice-key" }
    }
    expect {
      backend = "api"
      upstream_request {
        path           = "/admin/users"
        headers_absent = ["x-api-key"]
      }
    }
  }

  step "key-in-query" {
    request {
      path = "/admin/users?apikey=alice-key&page=2"
    }
    expect {
      backend = "api"
      upstream_request {
        path = "/admin/users?page=2"
      }
    }
  }

  step "unprotected-path" {
    request {
      path = "/public"
    }
    expect {
      backend = "api"
    }
  }
}
