case "h1-header-without-colon" {
  behaviour = "A header line without a colon is rejected with 400."
  source    = "RFC 9112 §5 (field-line = field-name \":\" OWS field-value OWS)"
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
      raw = "GET / HTTP/1.1\r\nHost: example.com\r\nNoColonHere\r\n\r\n"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
