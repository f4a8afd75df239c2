package upstream

import (
	"net/netip"
	"time"

	"github.com/wasmgate/wasmgate/gateway/balancer"
)

// This file is what the gateway's plain path (an event loop that forwards
// requests without a body, gateway/plain_linux.go) needs from an upstream:
// whether its requests may take that path, the balancer's choice, the
// settings that bound a try, and the passive health bookkeeping. Anything
// that goes wrong before a response arrives there is handed back to
// Forward, which keeps every retry and failure rule in one place.

// PlainPath reports whether the plain path may forward requests to this
// upstream: plain HTTP/1.1 endpoints at IP addresses, and none of the
// features that only Forward implements (session affinity, circuit
// breaker limits, retries on a reset, on a response status or a per-try
// timeout). The plain path hands back only tries that failed before the
// request was sent; a reset after it answers 502 there.
func (u *Upstream) PlainPath() bool {
	c := &u.cfg
	if c.Protocol != "" && c.Protocol != ProtocolHTTP {
		return false
	}
	if c.Affinity != nil || c.Breaker != (Breaker{}) || c.RetryPerTryTimeout > 0 ||
		len(c.RetryCodes) > 0 || c.RetryOn&(RetryReset|Retry5xx|RetryGatewayError) != 0 {
		return false
	}
	for _, e := range u.endpoints {
		if _, err := netip.ParseAddrPort(e.Address()); err != nil {
			return false
		}
	}
	return true
}

// Pick returns the balancer's choice for a request with hint, or nil when
// no endpoint is eligible.
func (u *Upstream) Pick(hint balancer.Hint) *balancer.Endpoint { return u.picker.Pick(hint) }

// ResponseTimeout is how long a request may wait for its response head.
func (u *Upstream) ResponseTimeout() time.Duration { return u.cfg.Timeout }

// ConnectTimeout bounds connecting to an endpoint.
func (u *Upstream) ConnectTimeout() time.Duration { return u.cfg.ConnectTimeout }

// IdleTimeout is how long an idle connection to an endpoint is kept.
func (u *Upstream) IdleTimeout() time.Duration { return u.cfg.IdleTimeout }

// MaxConnections is the connection limit per endpoint.
func (u *Upstream) MaxConnections() int { return u.cfg.MaxConnections }

// ObserveResponse records a response from ep with status, for passive
// health (outlier detection) and ep's counters.
func (u *Upstream) ObserveResponse(ep *balancer.Endpoint, status int) {
	if p := u.pools[ep]; p != nil {
		u.observe(p.st, failNone, status)
	}
}

// TryFailure is how a try that got no response failed, for ObserveFailure.
type TryFailure uint8

const (
	// TryReset: the connection was lost after the request was sent.
	TryReset TryFailure = iota
	// TryTimeout: no response head before the response timeout.
	TryTimeout
	// TryInvalid: the endpoint's answer was not a valid response.
	TryInvalid
)

// ObserveFailure records a try on ep that got no response.
func (u *Upstream) ObserveFailure(ep *balancer.Endpoint, how TryFailure) {
	if p := u.pools[ep]; p != nil {
		kind := failReset
		switch how {
		case TryTimeout:
			kind = failTimeout
		case TryInvalid:
			kind = failProtocol
		}
		u.observe(p.st, kind, 0)
	}
}
