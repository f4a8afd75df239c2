listener "a" {
  address        = "127.0.0.1:8080"
  redirect_https = "nowhere"
}

listener "b" {
  address        = "127.0.0.1:8081"
  redirect_https = "a"
}

listener "c" {
  address        = "127.0.0.1:8443"
  protocol       = "https"
  redirect_https = "c"
  tls {
    certificate "site" {
      cert_file = "authz.rego"
      key_file  = "authz.rego"
    }
  }
}
