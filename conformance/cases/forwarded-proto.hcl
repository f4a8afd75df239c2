case "forwarded-proto" {
  behaviour = "X-Forwarded-Proto reaching the upstream is the scheme the client used, replacing any value the client sent."
  source    = "Huawei ELB X-Forwarded-Proto; Envoy x-forwarded-proto (set from the downstream connection)"

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

  step "set" {
    request {
      path = "/"
    }
    expect {
      upstream_request {
        headers = { x-forwarded-proto = client.scheme }
      }
    }
  }

  step "spoofed" {
    request {
      headers = { x-forwarded-proto = "gopher" }
    }
    expect {
      upstream_request {
        headers = { x-forwarded-proto = client.scheme }
      }
    }
  }
}
