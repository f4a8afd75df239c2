case "source-allow-list-denied" {
  behaviour = "A client whose address is outside the listener's allow list gets 403 and the upstream sees nothing."
  source    = "Huawei ELB listener access control (whitelist); Kong ip-restriction answers 403"

  backend "a" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
      allow    = ["10.0.0.0/8", "192.0.2.1"]
    }
    upstream "app" {
      endpoint "${backend.a}" {}
    }
  EOT

  step "denied" {
    request {
      path = "/"
    }
    expect {
      status         = 403
      headers_absent = ["x-backend"]
    }
  }
}
