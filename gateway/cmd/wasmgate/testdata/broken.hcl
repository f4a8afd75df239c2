listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  upstream = "missing"
}

upstream "api" {
  timeout = "5x"
  endpoint "127.0.0.1:9" {}
}
