case "h1-unsupported-major-version" {
  behaviour = "A request line with an HTTP major version other than 1 on an HTTP/1.1 connection gets 505."
  source    = "RFC 9110 §15.6.6 (505 HTTP Version Not Supported); RFC 9112 §2.3"
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
      raw = "GET / HTTP/9.9\r\nHost: example.com\r\n\r\n"
    }
    expect {
      status            = 505
      connection_closed = true
    }
  }
}
