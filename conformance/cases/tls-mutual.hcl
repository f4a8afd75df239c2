case "tls-mutual" {
  behaviour = "A listener with client_ca_file requires a client certificate signed by that CA: such a client is served; a client without a certificate or with an untrusted one is refused during the TLS handshake."
  source    = "Huawei ELB mutual authentication (CA certificate on the listener); Google Cloud ALB mTLS with client validation mode REJECT_INVALID; RFC 8446 §4.4.2.4 (certificate_required / bad_certificate)"

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
        client_ca_file = "${tls.ca_file}"
        client_auth    = "require"
      }
    }
    upstream "app" {
      endpoint "${backend.app}" {}
    }
  EOT

  step "trusted-client" {
    request {
      authority   = "api.example.com"
      client_cert = "trusted"
    }
    expect {
      backend = "app"
    }
  }

  step "no-client-certificate" {
    request {
      authority   = "api.example.com"
      client_cert = "none"
    }
    expect {
      no_response = true
    }
  }

  step "untrusted-client" {
    request {
      authority   = "api.example.com"
      client_cert = "untrusted"
    }
    expect {
      no_response = true
    }
  }
}
