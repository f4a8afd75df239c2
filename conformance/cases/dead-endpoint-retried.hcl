case "dead-endpoint-retried" {
  behaviour = "A request whose endpoint refuses the connection is retried on another endpoint, so the client never sees the failure."
  source    = "Envoy retry_on connect-failure; DESIGN.md §8 (retry once by default on connection errors)"

  backend "dead" {
    kind = "closed"
  }
  backend "alive" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
    }
    upstream "app" {
      balancer = "round_robin"
      endpoint "${backend.dead}" {}
      endpoint "${backend.alive}" {}
    }
  EOT

  step "all-succeed" {
    request {
      repeat = 20
    }
    expect {
      status  = 200
      backend = "alive"
    }
  }
}
