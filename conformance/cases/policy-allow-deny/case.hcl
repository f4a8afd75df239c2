case "policy-allow-deny" {
  behaviour = "An OPA policy stage allows a request (which then reaches the upstream with the headers the decision sets) or denies it with the decision's status, body and headers before the upstream sees anything."
  source    = "OPA-Envoy plugin / Envoy ext_authz (allowed requests get decision headers, denied ones the decision's status and body); Kong OPA plugin; policies/README.md decision document"

  backend "api" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      chain    = "guarded"
      upstream = "api"
    }
    chain "guarded" {
      policy "no-deletes" {
        files = ["deny-delete.rego"]
        query = "data.conformance.decision"
      }
    }
    upstream "api" {
      endpoint "${backend.api}" {}
    }
  EOT

  step "allowed" {
    request {
      path = "/items/1"
    }
    expect {
      backend = "api"
      upstream_request {
        headers = { x-policy = "allowed" }
      }
    }
  }

  step "denied" {
    request {
      method = "DELETE"
      path   = "/items/1"
    }
    expect {
      status         = 403
      body_contains  = "deletes are not allowed"
      headers        = { x-denied-by = "no-deletes" }
      headers_absent = ["x-backend"]
      backend_saw "api" {
        count  = 0
        within = "100ms"
      }
    }
  }

  step "denied-custom-status" {
    request {
      method = "DELETE"
      path   = "/archive/1"
    }
    expect {
      status         = 405
      body_contains  = "archive is read-only"
      headers        = { allow = "GET, HEAD" }
      headers_absent = ["x-backend"]
    }
  }
}
