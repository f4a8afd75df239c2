case "fails-saw" {
  behaviour = "The runner reports a backend_saw block no recorded request matched, with what the backend did receive."
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

  step "unseen" {
    request {
      path = "/x"
    }
    expect {
      backend_saw "a" {
        path   = "/y"
        within = "200ms"
      }
    }
  }
}
