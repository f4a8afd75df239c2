listener "public" {
  address  = "127.0.0.1:8443"
  protocol = "https"
  http3    = true
  quic     = "sometimes"
  http2_stream_window = "4GiB"
  tls {
    certificate "a" {
      cert_file = "missing.pem"
      key_file  = "."
      default   = true
    }
    certificate "b" {
      cert_file = "authz.rego"
      key_file  = "authz.rego"
      default   = true
    }
    certificate "a" {
      cert_file = "authz.rego"
      key_file  = "authz.rego"
    }
    client_auth   = "sometimes"
    min_version   = "1.4"
    cipher_suites = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_RC4_128_SHA"]
  }
}

listener "empty" {
  address  = "127.0.0.1:8444"
  protocol = "https"
  tls {
    client_auth = "require"
    min_version = "1.3"
    cipher_suites = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]
  }
  tls {}
}

listener "plain" {
  address = "127.0.0.1:8080"
  http3   = true
  quic    = "on"
  tls {
    client_ca_file = "nope.pem"
  }
}
