case "via" {
  behaviour = "The gateway appends itself to Via on the forwarded request with the protocol version it received."
  source    = "RFC 9110 §7.6.3 (Via); Google Cloud ALB appends \"Via: 1.1 google\""

  backend "a" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
    }
    upstream "app" {
      endpoint "${backend.a}" {}
    }
  EOT

  step "added" {
    request {
      path = "/"
    }
    expect {
      upstream_request {
        headers = { via = "${client.http_version} wasmgate" }
      }
    }
  }

  step "appended" {
    request {
      headers = { via = "1.0 edge" }
    }
    expect {
      upstream_request {
        headers = { via = "1.0 edge, ${client.http_version} wasmgate" }
      }
    }
  }
}
