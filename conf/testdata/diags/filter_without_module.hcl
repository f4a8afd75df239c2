chain "default" {
  filter "auth" {
    config = { type = "key" }
  }
  filter "empty" {
    module = ""
  }
}
