chain "default" {
  filter "missing" {
    module = "filters/missing.wasm"
  }
  filter "directory" {
    module = "."
  }
  filter "builtin" {
    module = "builtin:"
  }
  policy "authz" {
    files = ["authz.rego", "policies/missing.rego"]
  }
}
