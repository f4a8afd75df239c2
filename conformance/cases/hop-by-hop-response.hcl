case "hop-by-hop-response" {
  behaviour = "Hop-by-hop fields of the upstream's response, and the fields its Connection header names, do not reach the client; end-to-end fields do."
  source    = "RFC 9110 §7.6.1 (Connection); Envoy strips hop-by-hop response headers"

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

  step "stripped" {
    request {
      headers = {
        x-echo-header = ["Keep-Alive=timeout=9", "Connection=X-App-Hop", "X-App-Hop=1", "X-App=1"]
      }
    }
    expect {
      headers        = { x-app = "1" }
      headers_absent = ["keep-alive", "x-app-hop"]
    }
  }
}
