chain "default" {
  filter "auth" { module = "builtin:auth" }
  filter "routing" { module = "builtin:routing" }
  policy "auth" { files = ["authz.rego"] }
}
