case "route-path-regex" {
  behaviour = "A regex path route matches by RE2; prefix routes are tried before regex routes, and among regex routes the first in file order wins."
  source    = "Huawei ELB forwarding policies (URL match: exact > prefix > regular expression); Envoy route safe_regex (RE2); Gateway API HTTPRouteMatching RegularExpression (implementation-specific)"

  backend "first" {}
  backend "second" {}
  backend "prefix" {}
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
    upstream "first" {
      endpoint "${backend.first}" {}
    }
    upstream "second" {
      endpoint "${backend.second}" {}
    }
    upstream "prefix" {
      endpoint "${backend.prefix}" {}
    }
    upstream "default" {
      endpoint "${backend.default}" {}
    }
    route "items-by-id" {
      match {
        path_regex = "^/items/[0-9]+$"
      }
      upstream = "first"
    }
    route "items-any" {
      match {
        path_regex = "^/items/[0-9a-z]+$"
      }
      upstream = "second"
    }
    route "items-special" {
      match {
        path_prefix = "/items/42"
      }
      upstream = "prefix"
    }
  EOT

  step "first-regex-wins" {
    request {
      path = "/items/7"
    }
    expect {
      backend = "first"
    }
  }

  step "second-regex" {
    request {
      path = "/items/abc"
    }
    expect {
      backend = "second"
    }
  }

  step "prefix-beats-regex" {
    request {
      path = "/items/42"
    }
    expect {
      backend = "prefix"
    }
  }

  step "regex-ignores-query" {
    request {
      path = "/items/8?x=y"
    }
    expect {
      backend = "first"
    }
  }

  step "anchored-regex-no-match" {
    request {
      path = "/items/7/parts"
    }
    expect {
      backend = "default"
    }
  }
}
