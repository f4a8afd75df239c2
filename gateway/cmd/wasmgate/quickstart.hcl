# The quickstart: `wasmgate run` with no -c serves this on 127.0.0.1:8080,
# in front of two demo echo backends the binary starts itself on
# 127.0.0.1:9081 and 127.0.0.1:9082.

listener "quickstart" {
  address  = "127.0.0.1:8080"
  protocol = "http"
  upstream = "demo"
}

upstream "demo" {
  balancer = "round_robin"
  endpoint "127.0.0.1:9081" {}
  endpoint "127.0.0.1:9082" {}
}
