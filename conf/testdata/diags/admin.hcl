listener "web" {
  address = "127.0.0.1:8080"
}

admin {
  address = "127.0.0.1:8080"
  allow   = ["127.0.0.1", "10.0.0.0/33"]
  port    = 9901
}

admin {
  address = "127.0.0.1:9901"
}
