case "h1-bare-lf" {
  behaviour = "A request with bare LF line endings is either served or rejected with 400, promptly."
  source    = "RFC 9112 §2.2 (a recipient MAY accept a bare LF as a line terminator)"
  protocols = ["h1"]

  backend "a" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"

      read_header_timeout = "3s" # a gateway that waits for more fails fast
    }
    upstream "app" {
      endpoint "${backend.a}" {}
    }
  EOT

  step "send" {
    request {
      raw = "GET / HTTP/1.1\nHost: example.com\n\n"
    }
    expect {
      status = [200, 400]
      within = "2s"
    }
  }
}
