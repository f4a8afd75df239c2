case "h1-content-length-not-a-number" {
  behaviour = "A Content-Length that is not a decimal number is rejected with 400 and the connection is closed."
  source    = "RFC 9110 §8.6 (Content-Length = 1*DIGIT); RFC 9112 §6.3"
  protocols = ["h1"]

  backend "a" {}

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "app"
    }
    upstream "app" {
      endpoint "${backend.a}" {}
    }
  EOT

  step "send" {
    request {
      raw = "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3x\r\n\r\nabc"
    }
    expect {
      status            = 400
      connection_closed = true
    }
  }
}
