listener "web" {
  address = "127.0.0.1:8080"
  http4   = true
}

upstream "api" {
  endpoint "127.0.0.1:9001" {
    weight = 10
    backup = true
  }
  retry = { attempts = 2 }
}
