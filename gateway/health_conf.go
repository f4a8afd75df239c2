package gateway

import (
	"log/slog"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/upstream"
)

// trafficConfig copies an upstream block's traffic management (retry
// details, health checks, outlier detection, affinity, circuit breaking,
// slow start) into the upstream's config. Zero values keep the upstream
// package's defaults.
func trafficConfig(uc *conf.Upstream, cfg *upstream.Config, log *slog.Logger) {
	r := &uc.Retry
	cfg.RetryCodes = upstream.ParseRetryCodes(r.On)
	cfg.RetryPerTryTimeout = r.PerTryTimeout
	cfg.RetryBackoff, cfg.RetryMaxBackoff = r.Backoff, r.MaxBackoff
	cfg.RetryAllowPost, cfg.RetryAllowBody = r.AllowPost, r.AllowBody
	cfg.RetryBudgetPercent, cfg.RetryMinConcurrency = r.BudgetPercent, r.MinRetryConcurrency
	cfg.SlowStart = uc.SlowStart
	cfg.Logger = log.With("upstream", uc.Name)
	if cb := uc.CircuitBreaker; cb != nil {
		cfg.Breaker = upstream.Breaker{
			MaxConnections:     cb.MaxConnections,
			MaxPendingRequests: cb.MaxPendingRequests,
			MaxRequests:        cb.MaxRequests,
		}
	}
	if hc := uc.HealthCheck; hc != nil {
		cfg.HealthCheck = &upstream.HealthCheck{
			Protocol:       hc.Protocol,
			Method:         hc.Method,
			Path:           hc.Path,
			Host:           hc.Host,
			Port:           hc.Port,
			Status:         hc.Status,
			Interval:       hc.Interval,
			Timeout:        hc.Timeout,
			Healthy:        hc.Healthy,
			Unhealthy:      hc.Unhealthy,
			StartUnhealthy: hc.Start == "unhealthy",
		}
	}
	if o := uc.Outlier; o != nil {
		cfg.Outlier = &upstream.Outlier{
			Consecutive5xx:             o.Consecutive5xx,
			ConsecutiveConnectFailures: o.ConsecutiveConnectFailures,
			BaseEjectionTime:           o.BaseEjectionTime,
			MaxEjectionTime:            o.MaxEjectionTime,
			MaxEjectionPercent:         o.MaxEjectionPercent,
		}
	}
	if a := uc.Affinity; a != nil {
		cfg.Affinity = &upstream.Affinity{
			Type:      a.Type,
			Cookie:    a.Cookie,
			Header:    a.Header,
			TTL:       a.TTL,
			Path:      a.Path,
			Domain:    a.Domain,
			HTTPOnly:  a.HTTPOnly,
			Secure:    a.Secure,
			SameSite:  a.SameSite,
			TableSize: a.TableSize,
		}
		if a.Key != "" {
			cfg.Affinity.Key = []byte(a.Key)
		}
	}
}
