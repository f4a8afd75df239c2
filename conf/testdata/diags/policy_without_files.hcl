chain "default" {
  policy "authz" {
    query = "data.wasmgate.authz.decision"
  }
  policy "empty" {
    files = []
  }
  policy "blank_query" {
    files = ["authz.rego"]
    query = " "
  }
}
