case "h1-malformed-version" {
  behaviour = "A request line whose version is not HTTP/DIGIT.DIGIT is rejected with 400."
  source    = "RFC 9112 §2.3 (HTTP-version = HTTP-name \"/\" DIGIT \".\" DIGIT); RFC 9112 §3"
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
      raw = "GET / HTTP/X\r\nHost: example.com\r\n\r\n"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
