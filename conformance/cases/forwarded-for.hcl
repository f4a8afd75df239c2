case "forwarded-for" {
  behaviour = "X-Forwarded-For reaching the upstream is the client's value with the client address appended, or the client address alone."
  source    = "Google Cloud ALB X-Forwarded-For: <supplied-value>,<client-ip>; Huawei ELB X-Forwarded-For; Envoy x-forwarded-for append"

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

  step "supplied" {
    request {
      headers = { x-forwarded-for = "203.0.113.7" }
    }
    expect {
      upstream_request {
        headers = { x-forwarded-for = "203.0.113.7, ${client.ip}" }
      }
    }
  }

  step "not-supplied" {
    request {
      path = "/"
    }
    expect {
      upstream_request {
        headers = { x-forwarded-for = client.ip }
      }
    }
  }
}
