chain "default" {}

chain "default" {
  filter "routing" { module = "builtin:routing" }
}
