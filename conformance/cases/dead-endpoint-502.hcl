case "dead-endpoint-502" {
  behaviour = "When no endpoint accepts a connection the gateway answers 502 itself."
  source    = "RFC 9110 §15.6.3 (502 Bad Gateway); Google Cloud ALB returns 502 when it cannot reach a backend"

  backend "dead" {
    kind = "closed"
  }

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
    }
    upstream "app" {
      endpoint "${backend.dead}" {}
    }
  EOT

  step "refused" {
    request {
      path = "/"
    }
    expect {
      status         = 502
      headers_absent = ["x-backend"]
      within         = "5s"
    }
  }
}
