case "route-timeout-with-retry-override" {
  behaviour = "A route that overrides both the response timeout and the retry attempts gets both: the request times out with 504 at the route timeout and is not retried."
  source    = "Envoy route timeout together with retry_policy num_retries; Gateway API conformance HTTPRouteTimeoutRequest; RFC 9110 §15.6.5"

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
      upstream       = "slow"
      timeout        = "300ms"
      retry_attempts = 0
    }
  EOT

  step "route-timeout" {
    request {
      path    = "/hurried"
      headers = { x-echo-delay = "1500ms" }
    }
    expect {
      status         = 504
      headers_absent = ["x-backend"]
      within         = "1s"
    }
  }
}
