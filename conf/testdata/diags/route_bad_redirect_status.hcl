route "old" {
  match { path_prefix = "/old" }
  redirect {
    prefix = "/new"
    status = 200
  }
}

route "https" {
  redirect {
    scheme = "ftp"
    port   = 70000
    status = 301
  }
}
