case "h1-higher-minor-version" {
  behaviour = "A request with a higher HTTP/1 minor version (HTTP/1.7) is served as HTTP/1.1."
  source    = "RFC 9112 §2.3 (a recipient treats a higher minor version as the highest it supports)"
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
      raw = "GET / HTTP/1.7\r\nHost: example.com\r\n\r\n"
    }
    expect {
      status  = 200
      backend = "a"
    }
  }
}
