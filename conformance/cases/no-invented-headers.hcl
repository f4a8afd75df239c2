case "no-invented-headers" {
  behaviour = "The gateway adds no Content-Type (or other representation metadata) to a request the client sent without one."
  source    = "RFC 9110 §8.3 (without Content-Type the recipient may sniff or assume; an intermediary must not decide for it) and §7.7 (message transformations)"

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

  step "post-without-content-type" {
    request {
      method = "POST"
      body   = "plain bytes"
    }
    expect {
      upstream_request {
        body_bytes     = 11
        headers_absent = ["content-type", "content-encoding"]
      }
    }
  }

  step "get-without-body" {
    request {
      path = "/"
    }
    expect {
      upstream_request {
        headers_absent = ["content-type", "content-length", "transfer-encoding"]
      }
    }
  }
}
