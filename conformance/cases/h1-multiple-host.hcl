case "h1-multiple-host" {
  behaviour = "An HTTP/1.1 request with two Host fields is rejected with 400."
  source    = "RFC 9112 §3.2 (a server MUST respond 400 to more than one Host)"
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
      raw = "GET / HTTP/1.1\r\nHost: example.com\r\nHost: other.example\r\n\r\n"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
