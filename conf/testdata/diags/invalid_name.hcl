listener "my listener" {
  address = "127.0.0.1:8080"
}

upstream "" {
  endpoint "127.0.0.1:9001" {}
}

chain "default" {
  filter "-auth" { module = "builtin:auth" }
}

listener {
  address = "127.0.0.1:8081"
}
