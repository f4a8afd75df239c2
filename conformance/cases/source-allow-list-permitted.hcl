case "source-allow-list-permitted" {
  behaviour = "A client whose address is inside one of the allow list's prefixes is served."
  source    = "Huawei ELB listener access control (whitelist)"

  backend "a" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
      allow    = ["10.0.0.0/8", "127.0.0.0/8"]
    }
    upstream "app" {
      endpoint "${backend.a}" {}
    }
  EOT

  step "permitted" {
    request {
      path = "/"
    }
    expect {
      status  = 200
      backend = "a"
    }
  }
}
