chain "default" {
  policy "dir_missing" {
    dir = "no-such-dir"
  }
  policy "dir_is_file" {
    dir = "authz.rego"
  }
  policy "data" {
    files = ["authz.rego"]
    data  = ["authz.rego", "missing.json"]
  }
  policy "body" {
    files        = ["authz.rego"]
    include_body = "yes please"
    max_body     = "1 parsec"
  }
  policy "log" {
    files        = ["authz.rego"]
    decision_log = "no-such-dir/decisions.log"
  }
  policy "log_empty" {
    files        = ["authz.rego"]
    decision_log = ""
  }
  policy "engine" {
    files  = ["authz.rego"]
    engine = "jit"
  }
}
