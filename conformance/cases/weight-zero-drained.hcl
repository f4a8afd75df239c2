case "weight-zero-drained" {
  behaviour = "An endpoint with weight 0 receives no new requests while others in the pool have weight."
  source    = "Huawei ELB backend server weight: 0 means no new requests are routed to the server"

  backend "live" {}
  backend "drained" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
    }
    upstream "app" {
      balancer = "weighted_round_robin"
      endpoint "${backend.live}" { weight = 10 }
      endpoint "${backend.drained}" { weight = 0 }
    }
  EOT

  step "only-live" {
    request {
      repeat = 50
    }
    expect {
      distribution = { live = 1, drained = 0 }
      tolerance    = 0
    }
  }
}
