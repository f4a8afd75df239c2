case "h1-duplicate-content-length" {
  behaviour = "Two Content-Length fields with different values are rejected with 400 and the connection is closed."
  source    = "RFC 9112 §6.3 (invalid Content-Length: 400, then close); RFC 9112 §11.2 (request smuggling)"
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
      raw = "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
