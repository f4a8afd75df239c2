case "redirect-https-301" {
  behaviour = "A plain listener with redirect_https answers every request with 301 to the same host and path on the https listener."
  source    = "Huawei ELB HTTP-to-HTTPS redirection (301); Google Cloud ALB HTTP-to-HTTPS redirect; Gateway API HTTPRouteRedirectScheme"
  protocols = ["h1"] # the redirecting listener is plain HTTP/1.1 by definition

  backend "a" {}

  config = <<-EOT
    listener "plain" {
      address        = "${listener.plain}"
      redirect_https = "secure"
    }
    listener "secure" {
      address  = "${listener.secure}"
      protocol = "https"
      upstream = "app"
      tls {
        certificate "conformance" {
          cert_file = "${tls.cert_file}"
          key_file  = "${tls.key_file}"
        }
      }
    }
    upstream "app" {
      endpoint "${backend.a}" {}
    }
  EOT

  step "redirected" {
    request {
      listener  = "plain"
      authority = "shop.example.com"
      path      = "/cart?id=7"
    }
    expect {
      status         = 301
      headers        = { location = "https://shop.example.com:${port.secure}/cart?id=7" }
      headers_absent = ["x-backend"]
    }
  }
}
