case "h1-whitespace-before-colon" {
  behaviour = "Whitespace between a field name and the colon is rejected with 400."
  source    = "RFC 9112 §5.1 (a server MUST reject such a request with 400)"
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
      raw = "GET / HTTP/1.1\r\nHost: example.com\r\nX-A : 1\r\n\r\n"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
