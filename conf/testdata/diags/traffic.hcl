upstream "api" {
  endpoint "127.0.0.1:9001" {}
  slow_start = "30s"
  health_check {
    protocol = "udp"
    path     = "healthz"
    status   = ["200-299", "600", "401"]
    interval = "2s"
    timeout  = "3s"
  }
  health_check {}
  outlier {
    base_ejection_time = "60s"
    max_ejection_time  = "30s"
    max_ejection_percent = 0
  }
  affinity {
    type      = "cookie"
    ttl       = "25h"
    same_site = "none"
    key       = "short"
  }
  circuit_breaker { max_requests = 0 }
  retry {
    on          = ["gateway-error", "429", "1000"]
    backoff     = "1s"
    max_backoff = "100ms"
  }
}

upstream "app" {
  endpoint "127.0.0.1:9002" {}
  affinity { type = "app_cookie" }
}
