upstream "api" {
  balancer = "least_conn"
}
