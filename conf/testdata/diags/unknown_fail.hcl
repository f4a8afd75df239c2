chain "default" {
  filter "auth" {
    module = "builtin:auth"
    fail   = "maybe"
  }
  policy "authz" {
    files = ["authz.rego"]
    fail  = "Closed"
  }
}
