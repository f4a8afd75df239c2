case "h1-bad-chunk-size" {
  behaviour = "A chunked body whose chunk size is not hexadecimal is rejected with 400 and the connection is closed, with no second response."
  source    = "RFC 9112 §7.1 (chunk-size = 1*HEXDIG); RFC 9112 §11.2 (request smuggling)"
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
      raw = "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
