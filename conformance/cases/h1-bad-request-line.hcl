case "h1-bad-request-line" {
  behaviour = "A request line without a target and version is rejected with 400."
  source    = "RFC 9112 §3 (request-line = method SP request-target SP HTTP-version)"
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
      raw = "GET\r\nHost: example.com\r\n\r\n"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
