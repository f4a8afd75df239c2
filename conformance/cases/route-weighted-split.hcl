case "route-weighted-split" {
  behaviour = "A route's to = { a = 3, b = 1 } splits requests 3:1; an upstream with weight 0 receives none; a route whose weights are all 0 answers 503 without contacting any upstream."
  source    = "Gateway API conformance HTTPRouteWeight (weighted backendRefs, weight 0 gets no traffic); Huawei ELB backend weights 0-100 (0 = no new requests); RFC 9110 §15.6.4 (503)"

  backend "a" {}
  backend "b" {}
  backend "c" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      chain    = "routing"
    }
    chain "routing" {
      filter "routing" {
        module = "builtin:routing"
      }
    }
    upstream "a" {
      endpoint "${backend.a}" {}
    }
    upstream "b" {
      endpoint "${backend.b}" {}
    }
    upstream "c" {
      endpoint "${backend.c}" {}
    }
    route "split" {
      match {
        path_prefix = "/split"
      }
      to = { a = 3, b = 1, c = 0 }
    }
    route "drained" {
      match {
        path_prefix = "/drained"
      }
      to = { a = 0, b = 0 }
    }
  EOT

  step "three-to-one" {
    request {
      path   = "/split"
      repeat = 200
    }
    expect {
      distribution = { a = 3, b = 1 }
      tolerance    = 0.05
    }
  }

  step "all-zero-503" {
    request {
      path = "/drained"
    }
    expect {
      status         = 503
      headers_absent = ["x-backend"]
    }
  }
}
