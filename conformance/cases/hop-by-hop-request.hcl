case "hop-by-hop-request" {
  behaviour = "Hop-by-hop fields and the fields the client's Connection header names do not reach the upstream; end-to-end fields do."
  source    = "RFC 9110 §7.6.1 (Connection: an intermediary removes the named fields before forwarding); Envoy strips hop-by-hop headers"
  protocols = ["h1"] # HTTP/2 and HTTP/3 forbid connection-specific fields (RFC 9113 §8.2.2)

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
        connection          = "keep-alive, X-Secret-Hop"
        x-secret-hop        = "1"
        keep-alive          = "timeout=5"
        proxy-authorization = "Basic Zm9vOmJhcg=="
        proxy-connection    = "keep-alive"
        te                  = "trailers"
        x-keep              = "yes"
      }
    }
    expect {
      upstream_request {
        headers        = { x-keep = "yes" }
        headers_absent = ["x-secret-hop", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade"]
      }
    }
  }
}
