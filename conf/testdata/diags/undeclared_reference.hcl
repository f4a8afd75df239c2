listener "web" {
  address  = "127.0.0.1:8080"
  chain    = "defualt"
  upstream = "apii"
}

upstream "api" {
  endpoint "127.0.0.1:9001" {}
}

upstream "static" {
  endpoint "127.0.0.1:9002" {}
}
