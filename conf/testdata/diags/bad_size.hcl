listener "a" {
  address         = "127.0.0.1:8080"
  max_header_size = "16KB"
  max_body_size   = "1.5MiB"
}

listener "b" {
  address         = "127.0.0.1:8081"
  max_header_size = 0
  max_body_size   = 1.5
}

listener "c" {
  address         = "127.0.0.1:8082"
  max_header_size = "99999999999TiB"
  max_body_size   = true
}
