upstream "api" {
  endpoint "127.0.0.1:9001" {}
  retry {
    attempts = 6
    on       = ["connect-failure", "timeout", "reset", "connect-failure"]
  }
  retry {
    attempts = 1
  }
}
