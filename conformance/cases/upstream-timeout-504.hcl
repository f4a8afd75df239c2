case "upstream-timeout-504" {
  behaviour = "An upstream that does not answer within the upstream timeout gets the client a 504 close to that timeout, and the gateway keeps serving."
  source    = "RFC 9110 §15.6.5 (504 Gateway Timeout); Envoy route timeout answers 504; Huawei ELB backend response timeout"

  backend "slow" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
    }
    upstream "app" {
      timeout = "300ms"
      endpoint "${backend.slow}" {}
    }
  EOT

  step "too-slow" {
    request {
      headers = { x-echo-delay = "3s" }
    }
    expect {
      status         = 504
      headers_absent = ["x-backend"]
      within         = "2s"
    }
  }

  step "next-request-fine" {
    request {
      headers = { x-echo-delay = "10ms" }
    }
    expect {
      status  = 200
      backend = "slow"
    }
  }
}
