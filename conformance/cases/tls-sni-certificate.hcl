case "tls-sni-certificate" {
  behaviour = "An HTTPS listener with several certificates presents the one whose names cover the client's SNI (wildcards too), and the default certificate for an unknown or absent SNI."
  source    = "Huawei ELB SNI (one certificate per domain name plus a default); Google Cloud ALB multiple SSL certificates selected by SNI; RFC 6066 §3 (server_name)"

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
          default   = true
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

  step "alt-name" {
    request {
      authority = "alt.test"
    }
    expect {
      server_certificate = "conformance-alt"
      backend            = "app"
    }
  }

  step "alt-wildcard" {
    request {
      authority = "www.alt.test"
    }
    expect {
      server_certificate = "conformance-alt"
    }
  }

  step "main-name" {
    request {
      authority = "shop.example.com"
    }
    expect {
      server_certificate = "conformance"
    }
  }

  step "unknown-name-default" {
    request {
      authority = "unknown.invalid"
    }
    expect {
      server_certificate = "conformance"
    }
  }

  step "no-sni-default" {
    request {
      path = "/"
    }
    expect {
      server_certificate = "conformance"
    }
  }
}
