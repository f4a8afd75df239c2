case "no-route-404" {
  behaviour = "A request that no route claims on a listener without a default upstream gets 404 from the gateway."
  source    = "Kong: 404 \"no Route matched with those values\"; Gateway API HTTPRouteMatching (unmatched requests get 404)"

  backend "a" {}

  config = <<-EOT
    listener "web" {
      address = "${listener.web}"
    }
    upstream "app" {
      endpoint "${backend.a}" {}
    }
  EOT

  step "unclaimed" {
    request {
      path = "/nowhere"
    }
    expect {
      status         = 404
      headers_absent = ["x-backend"]
    }
  }
}
