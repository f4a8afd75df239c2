case "fails" {
  behaviour = "The runner reports fail, naming the step and every mismatch."
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

  step "wrong" {
    request {
      path = "/x"
    }
    expect {
      status = 418
      upstream_request {
        path = "/y"
      }
    }
  }
}
