case "tls-misdirected-421" {
  behaviour = "On a TLS connection whose SNI named another server, a request for a host the presented certificate does not cover gets 421 Misdirected Request; a host the certificate covers is served on the same connection."
  source    = "RFC 9110 §15.5.20 (421 Misdirected Request) and §7.4; RFC 9113 §9.1.2 (connection reuse); RFC 6066 §3 (SNI and Host should agree)"

  backend "app" {}

  config = <<-EOT
    listener "secure" {
      address  = "${listener.secure}"
      protocol = "https"
      upstream = "app"
      tls {
        certificate "main" {
          cert_file = "${tls.cert_file}"
          key_file  = "${tls.key_file}"
        }
        certificate "alt" {
          cert_file = "${tls.alt_cert_file}"
          key_file  = "${tls.alt_key_file}"
        }
      }
    }
    upstream "app" {
      endpoint "${backend.app}" {}
    }
  EOT

  step "host-not-covered" {
    request {
      sni       = "shop.example.com"
      authority = "alt.test"
    }
    expect {
      status         = 421
      headers_absent = ["x-backend"]
    }
  }

  step "host-covered-by-certificate" {
    request {
      sni       = "shop.example.com"
      authority = "blog.example.com"
    }
    expect {
      backend = "app"
      upstream_request {
        host = "blog.example.com"
      }
    }
  }

  step "sni-matches-host" {
    request {
      sni       = "alt.test"
      authority = "alt.test"
    }
    expect {
      server_certificate = "conformance-alt"
      backend            = "app"
    }
  }
}
