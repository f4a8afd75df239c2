listener "web" {
  chain = "default"
}

listener "null" {
  address = null
}

chain "default" {}
