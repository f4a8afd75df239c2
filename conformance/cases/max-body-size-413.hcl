case "max-body-size-413" {
  behaviour = "A request body over the listener's max_body_size gets 413, whether its length is declared or not; a body at the limit passes whole."
  source    = "RFC 9110 §15.5.14 (413 Content Too Large); Kong request-size-limiting answers 413"

  backend "a" {}

  config = <<-EOT
    listener "web" {
      address       = "${listener.web}"
      upstream      = "app"
      max_body_size = "1KiB"
    }
    upstream "app" {
      endpoint "${backend.a}" {}
    }
  EOT

  step "declared-length-over" {
    request {
      method    = "POST"
      body_size = 2048
    }
    expect {
      status = 413
    }
  }

  step "unknown-length-over" {
    request {
      method    = "POST"
      body_size = 2048
      chunked   = true
    }
    expect {
      status = 413
    }
  }

  step "at-limit" {
    request {
      method    = "POST"
      body_size = 1024
    }
    expect {
      status = 200
      upstream_request {
        method     = "POST"
        body_bytes = 1024
      }
    }
  }

  step "unknown-length-at-limit" {
    request {
      method    = "POST"
      body_size = 1024
      chunked   = true
    }
    expect {
      status = 200
      upstream_request {
        body_bytes = 1024
      }
    }
  }
}
