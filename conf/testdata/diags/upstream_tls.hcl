upstream "plain" {
  protocol = "h2c"
  endpoint "127.0.0.1:9001" {}
  tls {
    ca_file = "authz.rego"
  }
}

upstream "secure" {
  protocol = "h2"
  endpoint "127.0.0.1:9002" {}
  tls {
    ca_file     = "missing-ca.pem"
    server_name = "not a name"
    cert_file   = "authz.rego"
  }
}

upstream "odd" {
  protocol = "http3"
  endpoint "127.0.0.1:9003" {}
}
