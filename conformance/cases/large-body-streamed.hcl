case "large-body-streamed" {
  behaviour = "A 20 MiB request body and a 20 MiB response body (declared length and chunked) pass through whole."
  source    = "Huawei ELB and Google Cloud ALB stream request and response bodies; RFC 9112 §7.1 (chunked)"

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

  step "upload" {
    request {
      method    = "POST"
      body_size = 20971520
    }
    expect {
      upstream_request {
        body_bytes = 20971520
      }
    }
  }

  step "upload-unknown-length" {
    request {
      method    = "PUT"
      body_size = 20971520
      chunked   = true
    }
    expect {
      upstream_request {
        body_bytes = 20971520
      }
    }
  }

  step "download" {
    request {
      headers = { x-echo-size = "20971520" }
    }
    expect {
      body_size = 20971520
      backend   = "a"
    }
  }

  step "download-chunked" {
    request {
      headers = { x-echo-size = "20971520", x-echo-chunked = "1" }
    }
    expect {
      body_size = 20971520
    }
  }
}
