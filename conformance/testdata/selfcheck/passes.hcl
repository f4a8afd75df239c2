case "passes" {
  behaviour = "The runner reports pass when every expectation holds."
  source    = "conformance runner self-check"

  backend "a" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
    }
    upstream "app" {
      endpoint "${backend.a}" {}
    }
  EOT

  step "ok" {
    request {
      headers = { x-echo-header = ["X-One=1", "X-Two=2"] }
    }
    expect {
      status          = [200, 204]
      backend         = "a"
      headers         = { x-one = "1" }
      headers_present = ["x-two"]
      body_contains   = "\"backend\":\"a\""
    }
  }

  step "seen" {
    request {
      path    = "/seen"
      headers = { x-tag = "1" }
    }
    expect {
      backend_saw "a" {
        path    = "/seen"
        headers = { x-tag = "1" }
      }
    }
  }
}
