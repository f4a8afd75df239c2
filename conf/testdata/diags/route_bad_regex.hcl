upstream "api" {
  endpoint "127.0.0.1:9001" {}
}

route "items" {
  match {
    path_regex = "^/items/([0-9]+$"
  }
  upstream = "api"
}

route "agents" {
  match {
    header "user-agent" { regex = "(?i)curl[" }
    query "id" { regex = "\\p{Nope}" }
  }
  upstream = "api"
}
