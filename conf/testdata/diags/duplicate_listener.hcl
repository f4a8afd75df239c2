listener "web" {
  address = "127.0.0.1:8080"
}

listener "web" {
  address = "127.0.0.1:8081"
}
