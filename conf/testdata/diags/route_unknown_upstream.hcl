listener "web" {
  address = "127.0.0.1:8080"
}

upstream "api" {
  endpoint "127.0.0.1:9001" {}
}

route "single" {
  upstream = "apii"
}

route "split" {
  to {
    api        = 90
    api_canary = 10
  }
  mirror {
    upstream = "shadow"
    percent  = 5
  }
}

route "scoped" {
  listeners = ["wbe"]
  upstream  = "api"
}

route "object" {
  to = { api = 1, "missing.one" = 2, web = -1 }
}
