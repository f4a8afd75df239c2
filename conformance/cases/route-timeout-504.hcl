case "route-timeout-504" {
  behaviour = "A route's timeout overrides the upstream's response timeout: a slower upstream answer gets the client 504 close to the route timeout, while another route on the same upstream still waits for the upstream's own timeout."
  source    = "Gateway API conformance HTTPRouteTimeoutRequest (request timeout, 504); Envoy route timeout (504 upstream request timeout); RFC 9110 §15.6.5"

  backend "slow" {}

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
    upstream "slow" {
      timeout = "10s"
      endpoint "${backend.slow}" {}
    }
    route "hurried" {
      match {
        path_prefix = "/hurried"
      }
      upstream = "slow"
      timeout  = "300ms"
    }
    route "patient" {
      match {
        path_prefix = "/patient"
      }
      upstream = "slow"
    }
  EOT

  step "route-timeout" {
    request {
      path    = "/hurried"
      headers = { x-echo-delay = "3s" }
    }
    expect {
      status         = 504
      headers_absent = ["x-backend"]
      within         = "2s"
    }
  }

  step "upstream-timeout-applies-elsewhere" {
    request {
      path    = "/patient"
      headers = { x-echo-delay = "600ms" }
    }
    expect {
      status  = 200
      backend = "slow"
    }
  }
}
