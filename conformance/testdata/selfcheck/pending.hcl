case "pending" {
  behaviour = "A pending case runs but reports pending, even when it passes."
  source    = "conformance runner self-check"
  pending   = "self-check"
  protocols = ["h1"]

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
      path = "/"
    }
    expect {
      backend = "a"
    }
  }
}
