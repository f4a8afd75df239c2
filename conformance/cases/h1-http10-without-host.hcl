case "h1-http10-without-host" {
  behaviour = "An HTTP/1.0 request without Host is valid and is forwarded."
  source    = "RFC 9112 §3.2 (Host is required of HTTP/1.1 requests only); Envoy accept_http_10"
  protocols = ["h1"]

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

  step "send" {
    request {
      raw = "GET / HTTP/1.0\r\n\r\n"
    }
    expect {
      status  = 200
      backend = "a"
    }
  }
}
