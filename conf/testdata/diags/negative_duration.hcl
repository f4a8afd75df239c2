upstream "api" {
  timeout      = "-5s"
  idle_timeout = "0s"
  endpoint "127.0.0.1:9001" {}
}
