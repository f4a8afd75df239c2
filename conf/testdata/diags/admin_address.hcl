admin {
  address = "localhost"
}
