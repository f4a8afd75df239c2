case "route-header-match" {
  behaviour = "Header conditions: all conditions of one match block must hold (AND), any match block of a route may hold (OR); exact, regex and absence conditions; header names are case-insensitive."
  source    = "Gateway API conformance HTTPRouteHeaderMatching and HTTPRouteMatching (matches are ORed, conditions within a match ANDed); Huawei ELB forwarding policies (HTTP header); Envoy route headers matcher"

  backend "canary" {}
  backend "debug" {}
  backend "default" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      chain    = "routing"
      upstream = "default"
    }
    chain "routing" {
      filter "routing" {
        module = "builtin:routing"
      }
    }
    upstream "canary" {
      endpoint "${backend.canary}" {}
    }
    upstream "debug" {
      endpoint "${backend.debug}" {}
    }
    upstream "default" {
      endpoint "${backend.default}" {}
    }
    route "canary" {
      match {
        header "x-env" {
          exact = "canary"
        }
        header "x-version" {
          regex = "^v[2-9]$"
        }
        header "x-block" {
          present = false
        }
      }
      match {
        header "x-canary-override" {
          present = true
        }
      }
      upstream = "canary"
    }
    route "debug" {
      match {
        header "X-Debug" {
          exact = "1"
        }
      }
      upstream = "debug"
    }
  EOT

  step "all-conditions" {
    request {
      headers = { x-env = "canary", x-version = "v2" }
    }
    expect {
      backend = "canary"
    }
  }

  step "one-condition-fails-regex" {
    request {
      headers = { x-env = "canary", x-version = "v1" }
    }
    expect {
      backend = "default"
    }
  }

  step "one-condition-fails-exact" {
    request {
      headers = { x-env = "prod", x-version = "v3" }
    }
    expect {
      backend = "default"
    }
  }

  step "absent-condition-fails" {
    request {
      headers = { x-env = "canary", x-version = "v3", x-block = "yes" }
    }
    expect {
      backend = "default"
    }
  }

  step "second-match-ored" {
    request {
      headers = { x-canary-override = "" }
    }
    expect {
      backend = "canary"
    }
  }

  step "name-case-insensitive" {
    request {
      headers = { x-debug = "1" }
    }
    expect {
      backend = "debug"
    }
  }

  step "value-case-sensitive" {
    request {
      headers = { x-env = "CANARY", x-version = "v2" }
    }
    expect {
      backend = "default"
    }
  }
}
