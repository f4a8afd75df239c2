case "h1-invalid-field-name" {
  behaviour = "A field name with a character outside token is rejected with 400."
  source    = "RFC 9110 §5.1 (field-name = token)"
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
      raw = "GET / HTTP/1.1\r\nHost: example.com\r\nX(A): 1\r\n\r\n"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
