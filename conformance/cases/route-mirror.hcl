case "route-mirror" {
  behaviour = "A route with mirror { percent = 100 } sends a copy of every request to the shadow upstream (fire and forget) while the client gets the primary upstream's response."
  source    = "Gateway API conformance HTTPRouteRequestMirror; Envoy route request_mirror_policies (shadowing); Flomesh FGW request mirroring"

  backend "primary" {}
  backend "shadow" {}

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
    upstream "primary" {
      endpoint "${backend.primary}" {}
    }
    upstream "shadow" {
      endpoint "${backend.shadow}" {}
    }
    route "mirrored" {
      match {
        path_prefix = "/x"
      }
      upstream = "primary"
      mirror {
        upstream = "shadow"
        percent  = 100
      }
    }
  EOT

  step "mirrored" {
    request {
      path    = "/x/orders?id=9"
      headers = { x-request-tag = "m1" }
    }
    expect {
      backend = "primary"
      upstream_request {
        path = "/x/orders?id=9"
      }
      backend_saw "shadow" {
        method  = "GET"
        path    = "/x/orders?id=9"
        headers = { x-request-tag = "m1" }
        within  = "3s"
      }
    }
  }

  step "not-mirrored-off-route" {
    request {
      path = "/y"
    }
    expect {
      status = 404
      backend_saw "shadow" {
        count = 0
      }
    }
  }
}
