upstream "api" {
  endpoint "127.0.0.1:9001" {}
}

route "nothing" {
  match { path = "/x" }
}

route "both" {
  upstream = "api"
  respond { status = 204 }
}

route "redirect_rewrite" {
  redirect { host = "example.com" }
  rewrite { host = "internal" }
  timeout = "5s"
}

route "strip" {
  match { path = "/api" }
  match { path_prefix = "/api" }
  upstream = "api"
  rewrite { path_prefix = "/" }
}

route "matches" {
  match {
    host        = ["api.example.com", "a*.example.com", "*.ok.example.com"]
    method      = ["GET", "post"]
    path        = "/a"
    path_prefix = "/b"
    header "x-env" {}
    query "q" {
      exact   = "1"
      present = true
    }
  }
  to {
    api = 101
  }
  upstream = "api"
  retry_attempts = 9
}

route "nothing" {
  upstream = "api"
}

route "two_splits" {
  to = { api = 1 }
  to {
    api = 2
  }
}

route "bad_to" {
  to = ["api"]
}
