listener "public" {
  address  = "0.0.0.0:8443"
  protocol = "https"
}

listener "other" {
  address  = "0.0.0.0:8444"
  protocol = "HTTP"
}
