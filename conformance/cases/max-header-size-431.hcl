case "max-header-size-431" {
  behaviour = "A request whose header section exceeds the listener's max_header_size gets 431 and never reaches the upstream."
  source    = "RFC 6585 §5 (431 Request Header Fields Too Large); Envoy max_request_headers_kb answers 431"

  backend "a" {}

  config = <<-EOT
    listener "web" {
      address         = "${listener.web}"
      upstream        = "app"
      max_header_size = "4KiB"
    }
    upstream "app" {
      endpoint "${backend.a}" {}
    }
  EOT

  step "over" {
    request {
      headers = { x-big = repeat("x", 8192) }
    }
    expect {
      status         = 431
      headers_absent = ["x-backend"]
    }
  }

  step "under" {
    request {
      headers = { x-big = repeat("x", 2048) }
    }
    expect {
      status  = 200
      backend = "a"
    }
  }
}
