listener "web" {
  address = ["127.0.0.1:8080"]
  allow   = "10.0.0.0/8"
}

upstream "api" {
  max_connections = "many"
  endpoint "127.0.0.1:9001" {
    weight = "heavy"
  }
}
