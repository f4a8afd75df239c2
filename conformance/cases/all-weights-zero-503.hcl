case "all-weights-zero-503" {
  behaviour = "When every endpoint of the upstream has weight 0 no endpoint is eligible and the gateway answers 503 itself."
  source    = "RFC 9110 §15.6.4 (503 Service Unavailable); Envoy answers 503 \"no healthy upstream\" when no host is eligible"

  backend "a" {}
  backend "b" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
    }
    upstream "app" {
      balancer = "weighted_round_robin"
      endpoint "${backend.a}" { weight = 0 }
      endpoint "${backend.b}" { weight = 0 }
    }
  EOT

  step "no-eligible-endpoint" {
    request {
      path = "/"
    }
    expect {
      status         = 503
      headers_absent = ["x-backend"]
    }
  }
}
