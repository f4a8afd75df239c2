upstream "api" {
  endpoint "127.0.0.1:9001" {}
  endpoint "API.internal:80" {}
  endpoint "127.0.0.1:09001" { weight = 50 }
  endpoint "api.internal:80" {}
}
