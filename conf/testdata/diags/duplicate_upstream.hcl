upstream "api" {
  endpoint "127.0.0.1:9001" {}
}

upstream "api" {
  endpoint "127.0.0.1:9002" {}
}
