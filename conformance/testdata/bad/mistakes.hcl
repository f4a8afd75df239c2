case "mistakes" {
  behaviour = "A case with many mistakes."
  source    = "loader test"
  protocols = ["h1", "h9"]

  backend "a" {
    kind = "teapot"
  }

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "${backend.nope}"
    }
  EOT

  step "s" {
    request {
      body      = "x"
      body_size = 3
      nonsense  = true
    }
    expect {
      status       = 42
      distribution = { zz = 1 }
    }
  }
}
