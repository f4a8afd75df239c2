case "fails-no-response" {
  behaviour = "The runner reports a response where the step expects the connection to be refused."
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

  step "answered" {
    request {
      path = "/"
    }
    expect {
      no_response = true
    }
  }
}
