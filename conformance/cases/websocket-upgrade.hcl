case "websocket-upgrade" {
  behaviour = "A WebSocket upgrade passes through the gateway with no configuration: the client gets the upstream's 101 with a valid Sec-WebSocket-Accept, and a frame sent afterwards comes back echoed through the tunnel."
  source    = "RFC 6455 §4.1-4.2 (opening handshake) and §5 (framing); Huawei ELB and Google Cloud ALB support WebSocket without configuration"
  protocols = ["h1"] # an HTTP/1.1 Upgrade; WebSocket over h2/h3 (RFC 8441/9220) is not in scope

  backend "ws" {
    kind = "websocket"
  }

  config = <<-EOT
    listener "web" {
      address  = "${listener.web}"
      upstream = "ws"
    }
    upstream "ws" {
      endpoint "${backend.ws}" {}
    }
  EOT

  step "handshake-and-echo" {
    request {
      path      = "/chat"
      websocket = "hello through the gateway"
    }
    expect {
      status        = 101
      backend       = "ws"
      headers       = { upgrade = "websocket" }
      body_contains = "hello through the gateway"
    }
  }

  step "plain-request-still-served" {
    request {
      path = "/chat"
    }
    expect {
      status        = 200
      backend       = "ws"
      body_contains = "websocket backend"
    }
  }
}
