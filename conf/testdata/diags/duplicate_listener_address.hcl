listener "a" {
  address = "127.0.0.1:8080"
}

listener "b" {
  address = "127.0.0.1:8080"
}

listener "c" {
  address = ":9090"
}

listener "d" {
  address = "127.0.0.1:9090"
}

listener "e" {
  address = "127.0.0.1:0"
}

listener "f" {
  address = "127.0.0.1:0"
}
