case "weighted-split" {
  behaviour = "weighted_round_robin sends traffic in proportion to endpoint weights (75:25 → 3:1)."
  source    = "Huawei ELB backend server weights (weighted round robin); Gateway API HTTPRouteWeight"

  backend "a" {}
  backend "b" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
    }
    upstream "app" {
      balancer = "weighted_round_robin"
      endpoint "${backend.a}" { weight = 75 }
      endpoint "${backend.b}" { weight = 25 }
    }
  EOT

  step "split" {
    request {
      path   = "/split"
      repeat = 400
    }
    expect {
      status       = 200
      distribution = { a = 3, b = 1 }
      tolerance    = 0.05
    }
  }
}
