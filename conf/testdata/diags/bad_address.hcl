listener "no_port" {
  address = "localhost"
}

listener "named_port" {
  address = "127.0.0.1:http"
}

listener "bad_host" {
  address = "bad host!:8080"
}

listener "bad_ip" {
  address = "10.0.0.300:8080"
}

upstream "api" {
  endpoint "10.0.0.1" {}
  endpoint ":9001" {}
  endpoint "[::1]:70000" {}
  endpoint "127.0.0.1:0" {}
}
