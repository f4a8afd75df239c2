upstream "api" {
  balancer = "fastest"
  endpoint "127.0.0.1:9001" {}
}
