listener "web" {
  address             = "127.0.0.1:8080"
  read_header_timeout = "5x"
  idle_timeout        = 30
}

upstream "api" {
  connect_timeout = "five seconds"
  endpoint "127.0.0.1:9001" {}
}
