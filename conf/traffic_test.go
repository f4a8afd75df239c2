package conf

import (
	"reflect"
	"testing"
	"time"
)

func TestTrafficBlocks(t *testing.T) {
	cfg, diags := Parse(map[string][]byte{"t.hcl": []byte(`
upstream "api" {
  endpoint "127.0.0.1:9001" {}
  slow_start = "20s"
  health_check {
    path     = "/healthz"
    port     = 9100
    status   = ["200-299", 401]
    interval = "2s"
    timeout  = "1s"
    start    = "unhealthy"
  }
  outlier { consecutive_5xx = 4 }
  affinity {
    type = "cookie"
    ttl  = "1h"
    key  = "0123456789abcdef"
  }
  circuit_breaker { max_requests = 100 }
  retry {
    attempts        = 2
    on              = ["connect-failure", "gateway-error", "429"]
    per_try_timeout = "2s"
    allow_post      = true
    budget_percent  = 50
  }
}

upstream "plain" {
  endpoint "127.0.0.1:9002" {}
  health_check { interval = "1s" }
}
`)}, ".")
	mustNotFail(t, cfg, diags)
	u := cfg.Upstream("api")
	hc := u.HealthCheck
	if hc == nil || hc.Protocol != "http" || hc.Method != "GET" || hc.Path != "/healthz" || hc.Port != 9100 ||
		!reflect.DeepEqual(hc.Status, [][2]int{{200, 299}, {401, 401}}) || hc.Interval != 2*time.Second ||
		hc.Timeout != time.Second || hc.Healthy != 2 || hc.Unhealthy != 3 || hc.Start != "unhealthy" {
		t.Errorf("health_check = %+v", hc)
	}
	if o := u.Outlier; o == nil || o.Consecutive5xx != 4 || o.ConsecutiveConnectFailures != 3 ||
		o.BaseEjectionTime != 30*time.Second || o.MaxEjectionTime != 300*time.Second || o.MaxEjectionPercent != 10 {
		t.Errorf("outlier = %+v", o)
	}
	if a := u.Affinity; a == nil || a.Type != "cookie" || a.Cookie != "wg_affinity" || a.TTL != time.Hour ||
		a.Path != "/" || !a.HTTPOnly || a.Secure || a.SameSite != "Lax" || a.Key != "0123456789abcdef" {
		t.Errorf("affinity = %+v", a)
	}
	if cb := u.CircuitBreaker; cb == nil || cb.MaxRequests != 100 || cb.MaxConnections != 0 {
		t.Errorf("circuit_breaker = %+v", cb)
	}
	if u.SlowStart != 20*time.Second {
		t.Errorf("slow_start = %v", u.SlowStart)
	}
	r := u.Retry
	if r.Attempts != 2 || len(r.On) != 3 || r.PerTryTimeout != 2*time.Second || !r.AllowPost || r.AllowBody ||
		r.BudgetPercent != 50 || r.MinRetryConcurrency != 0 || r.Backoff != 0 || r.MaxBackoff != 0 {
		t.Errorf("retry = %+v", r)
	}
	p := cfg.Upstream("plain")
	if p.HealthCheck == nil || p.HealthCheck.Timeout != time.Second || p.Outlier != nil || p.Affinity != nil || p.CircuitBreaker != nil {
		t.Errorf("plain: health_check %+v (timeout defaults to the shorter interval), outlier %v, affinity %v", p.HealthCheck, p.Outlier, p.Affinity)
	}
}
