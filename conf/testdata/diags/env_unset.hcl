chain "default" {
  filter "auth" {
    module = "builtin:auth"
    config = { keys = { alice = env("WASMGATE_TEST_SURELY_UNSET") } }
  }
}
