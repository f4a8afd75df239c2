case "h1-failed-forward-no-desync" {
  behaviour = "When forwarding fails before a chunked request body is read, the client gets 502 and the body is never read as another request."
  source    = "RFC 9112 §11.2 (request smuggling); RFC 9112 §9.6"
  protocols = ["h1"]

  backend "a" {
    kind = "closed"
  }

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
      raw = "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n40\r\nGET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\nyyyyyyyyyyyyyyyyyyy\r\n0\r\n\r\n"
    }
    expect {
      status        = 502
      nothing_after = true
    }
  }
}
