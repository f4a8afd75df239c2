case "h1-transfer-encoding-not-chunked" {
  behaviour = "A request whose Transfer-Encoding does not end in chunked is rejected with 400 and the connection is closed."
  source    = "RFC 9112 §6.3 item 4 (final coding not chunked: MUST respond 400 and close)"
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
      raw = "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip\r\n\r\nabc"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
