case "h1-content-length-with-transfer-encoding" {
  behaviour = "A request with both Content-Length and Transfer-Encoding is rejected with 400 and the connection is closed."
  source    = "RFC 9112 §6.3 and §11.2 (CL+TE is a smuggling vector; MUST close even when processed); Envoy rejects it unless allow_chunked_length; DESIGN.md §8"
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
      raw = "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
