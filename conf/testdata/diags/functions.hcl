listener "web" {
  address  = var.address
  chain    = file("missing.txt")
  upstream = lookup("api")
}

chain "default" {
  filter "auth" {
    module = "builtin:auth"
    config = env("A", "b", "c")
  }
}
