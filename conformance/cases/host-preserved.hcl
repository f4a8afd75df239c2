case "host-preserved" {
  behaviour = "The upstream receives the client's Host (authority) and request target unchanged."
  source    = "Google Cloud ALB and Huawei ELB forward the Host header unchanged; RFC 9110 §7.2"

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

  step "authority" {
    request {
      authority = "app.example.com"
      path      = "/p/q?x=1&y=%2F"
    }
    expect {
      upstream_request {
        method = "GET"
        host   = "app.example.com"
        path   = "/p/q?x=1&y=%2F"
      }
    }
  }
}
