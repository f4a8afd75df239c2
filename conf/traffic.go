package conf

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// This file holds the traffic-management blocks of an upstream:
// health_check, outlier, affinity and circuit_breaker, and the retry
// attributes beyond attempts and on.

// HealthCheck is the health_check block of an upstream: active checks of
// every endpoint of positive weight.
type HealthCheck struct {
	// Protocol is "http" (the default) or "tcp" (connecting is enough).
	Protocol string
	// Method (default "GET"), Path (default "/") and Host (default the
	// endpoint's address) of the HTTP check.
	Method, Path, Host string
	// Port, when not 0, is checked instead of the endpoint's port.
	Port int
	// Status are the healthy status ranges, inclusive; default 200, 202
	// and 401. Written as codes or ranges: ["200-299", "401"].
	Status [][2]int
	// Interval between checks, default 5s; Timeout of one check, default
	// 3s (or the interval when shorter), never more than Interval.
	Interval, Timeout time.Duration
	// Healthy is the consecutive successes that bring an endpoint back
	// (default 2); Unhealthy the consecutive failures that take it out
	// (default 3).
	Healthy, Unhealthy int
	// Start is the state of endpoints before their first check: "healthy"
	// (the default) or "unhealthy". Either way an endpoint never checked
	// before is healthy after one success.
	Start string
	// DeclRange is the block header, `health_check`.
	DeclRange hcl.Range
}

// Outlier is the outlier block of an upstream: passive detection of
// failing endpoints from the requests they serve.
type Outlier struct {
	// Consecutive5xx ejects an endpoint after this many 5xx answers or
	// failed tries in a row; default 5.
	Consecutive5xx int
	// ConsecutiveConnectFailures ejects after this many connect failures
	// in a row; default 3.
	ConsecutiveConnectFailures int
	// BaseEjectionTime is the first ejection's length (default 30s); each
	// further ejection lasts one more, up to MaxEjectionTime (default
	// 300s).
	BaseEjectionTime, MaxEjectionTime time.Duration
	// MaxEjectionPercent caps the share of endpoints ejected at once
	// (default 10); one endpoint may always be ejected.
	MaxEjectionPercent int
	// DeclRange is the block header, `outlier`.
	DeclRange hcl.Range
}

// Affinity types, the values of [Affinity.Type].
const (
	AffinitySourceIP  = "source_ip"
	AffinityCookie    = "cookie"
	AffinityAppCookie = "app_cookie"
	AffinityHeader    = "header"
)

// Affinity is the affinity block of an upstream: session persistence.
type Affinity struct {
	// Type is source_ip, cookie (a cookie the gateway sets), app_cookie
	// (follows a cookie the application sets) or header.
	Type string
	// Cookie names the cookie: default "wg_affinity" for cookie; required
	// for app_cookie.
	Cookie string
	// Header names the request header of the header type.
	Header string
	// TTL is how long a cookie binds: default 20m, at most 24h.
	TTL time.Duration
	// Path (default "/"), Domain, HTTPOnly (default true), Secure and
	// SameSite ("Lax", the default, "Strict" or "None", which needs
	// Secure) are the gateway cookie's attributes.
	Path, Domain     string
	HTTPOnly, Secure bool
	SameSite         string
	// Key signs the gateway cookie (HMAC-SHA256) when not empty; at least
	// 16 bytes.
	Key string
	// TableSize is how many app_cookie values are remembered; default
	// 65536.
	TableSize int
	// DeclRange is the block header, `affinity`.
	DeclRange hcl.Range
}

// CircuitBreaker is the circuit_breaker block of an upstream; 0 is no
// limit. Past a limit the gateway answers 503 with an x-wasmgate-reason.
type CircuitBreaker struct {
	// MaxConnections caps open connections to all endpoints together.
	MaxConnections int
	// MaxPendingRequests caps requests waiting for a new connection.
	MaxPendingRequests int
	// MaxRequests caps requests in flight to the upstream.
	MaxRequests int
	// DeclRange is the block header, `circuit_breaker`.
	DeclRange hcl.Range
}

func healthCheckSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "protocol"}, {Name: "method"}, {Name: "path"}, {Name: "host"}, {Name: "port"},
		{Name: "status"}, {Name: "interval"}, {Name: "timeout"}, {Name: "healthy"},
		{Name: "unhealthy"}, {Name: "start"},
	}}
}

func outlierSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "consecutive_5xx"}, {Name: "consecutive_connect_failures"},
		{Name: "base_ejection_time"}, {Name: "max_ejection_time"}, {Name: "max_ejection_percent"},
	}}
}

func affinitySchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "type", Required: true}, {Name: "cookie"}, {Name: "header"}, {Name: "ttl"},
		{Name: "path"}, {Name: "domain"}, {Name: "http_only"}, {Name: "secure"},
		{Name: "same_site"}, {Name: "key"}, {Name: "table_size"},
	}}
}

func circuitBreakerSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "max_connections"}, {Name: "max_pending_requests"}, {Name: "max_requests"},
	}}
}

// Defaults of the traffic blocks.
const (
	defaultHealthInterval  = 5 * time.Second
	defaultHealthTimeout   = 3 * time.Second
	defaultAffinityTTL     = 20 * time.Minute
	maxAffinityTTL         = 24 * time.Hour
	defaultBaseEjection    = 30 * time.Second
	defaultMaxEjection     = 300 * time.Second
	defaultRetryBackoff    = 25 * time.Millisecond
	defaultRetryMaxBackoff = 250 * time.Millisecond
)

// once reports whether b is the first block of its type in an upstream;
// seen holds the first of each type.
func (d *decoder) once(seen map[string]*hcl.Block, b *hcl.Block) bool {
	if first := seen[b.Type]; first != nil {
		d.errorf(b.DefRange, "Duplicate "+b.Type+" block",
			"An upstream has at most one %s block; the first is at %s.", b.Type, first.DefRange)
		return false
	}
	seen[b.Type] = b
	return true
}

func (d *decoder) decodeHealthCheck(s *source, b *hcl.Block) *HealthCheck {
	hc := &HealthCheck{
		Protocol: "http", Method: "GET", Path: "/",
		Interval: defaultHealthInterval, Healthy: 2, Unhealthy: 3, Start: "healthy",
		DeclRange: b.DefRange,
	}
	a, _ := d.content(s, b.Body, healthCheckSchema())
	a.oneOf("protocol", "health check protocol", []string{"http", "tcp"}, &hc.Protocol)
	if rng, ok := a.str("method", &hc.Method); ok && !validToken(hc.Method) {
		d.errorf(rng, "Invalid method", "%q is not an HTTP method.", hc.Method)
	}
	if rng, ok := a.str("path", &hc.Path); ok && !strings.HasPrefix(hc.Path, "/") {
		d.errorf(rng, "Invalid path", "The health check path must start with \"/\"; got %q.", hc.Path)
	}
	a.str("host", &hc.Host)
	a.intRange("port", 1, 65535, &hc.Port)
	vals, ranges, _ := a.strs("status")
	for i, v := range vals {
		r, ok := parseStatusRange(v)
		if !ok {
			d.errorf(ranges[i], "Invalid status",
				"%q is not a status code or range: write a code from 100 to 599 (\"200\") or a range (\"200-299\").", v)
			continue
		}
		hc.Status = append(hc.Status, r)
	}
	a.duration("interval", &hc.Interval)
	hc.Timeout = min(defaultHealthTimeout, hc.Interval)
	a.duration("timeout", &hc.Timeout)
	if attr := a.m["timeout"]; attr != nil && hc.Timeout > hc.Interval {
		d.errorf(attr.Expr.Range(), "Health check timeout exceeds interval",
			"The timeout (%s) must not be longer than the interval (%s): a check must end before the next starts.", hc.Timeout, hc.Interval)
	}
	a.intRange("healthy", 1, 100, &hc.Healthy)
	a.intRange("unhealthy", 1, 100, &hc.Unhealthy)
	a.oneOf("start", "health check start state", []string{"healthy", "unhealthy"}, &hc.Start)
	return hc
}

// parseStatusRange parses "200" or "200-299".
func parseStatusRange(v string) ([2]int, bool) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(v), "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.Atoi(strings.TrimSpace(hi))
	}
	if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
		return [2]int{}, false
	}
	return [2]int{a, b}, true
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

func (d *decoder) decodeOutlier(s *source, b *hcl.Block) *Outlier {
	o := &Outlier{
		Consecutive5xx: 5, ConsecutiveConnectFailures: 3,
		BaseEjectionTime: defaultBaseEjection, MaxEjectionTime: defaultMaxEjection,
		MaxEjectionPercent: 10, DeclRange: b.DefRange,
	}
	a, _ := d.content(s, b.Body, outlierSchema())
	a.intRange("consecutive_5xx", 1, 1000, &o.Consecutive5xx)
	a.intRange("consecutive_connect_failures", 1, 1000, &o.ConsecutiveConnectFailures)
	a.duration("base_ejection_time", &o.BaseEjectionTime)
	a.duration("max_ejection_time", &o.MaxEjectionTime)
	if attr := a.m["max_ejection_time"]; attr != nil && o.MaxEjectionTime < o.BaseEjectionTime {
		d.errorf(attr.Expr.Range(), "Maximum ejection time too short",
			"The max_ejection_time (%s) must be at least the base_ejection_time (%s).", o.MaxEjectionTime, o.BaseEjectionTime)
	}
	a.intRange("max_ejection_percent", 1, 100, &o.MaxEjectionPercent)
	return o
}

func (d *decoder) decodeAffinity(s *source, b *hcl.Block) *Affinity {
	af := &Affinity{TTL: defaultAffinityTTL, Path: "/", HTTPOnly: true, SameSite: "Lax", DeclRange: b.DefRange}
	a, _ := d.content(s, b.Body, affinitySchema())
	a.oneOf("type", "affinity type", []string{AffinitySourceIP, AffinityCookie, AffinityAppCookie, AffinityHeader}, &af.Type)
	a.str("cookie", &af.Cookie)
	a.str("header", &af.Header)
	a.duration("ttl", &af.TTL)
	if attr := a.m["ttl"]; attr != nil && af.TTL > maxAffinityTTL {
		d.errorf(attr.Expr.Range(), "Affinity TTL too long", "The ttl (%s) must be at most 24h.", af.TTL)
	}
	if rng, ok := a.str("path", &af.Path); ok && !strings.HasPrefix(af.Path, "/") {
		d.errorf(rng, "Invalid path", "The cookie path must start with \"/\"; got %q.", af.Path)
	}
	a.str("domain", &af.Domain)
	a.boolean("http_only", &af.HTTPOnly)
	a.boolean("secure", &af.Secure)
	var ss string
	if rng, ok := a.str("same_site", &ss); ok {
		switch strings.ToLower(ss) {
		case "lax":
			af.SameSite = "Lax"
		case "strict":
			af.SameSite = "Strict"
		case "none":
			af.SameSite = "None"
			if !af.Secure {
				d.errorf(rng, "SameSite=None needs secure",
					"Browsers drop a SameSite=None cookie that is not Secure: set secure = true.")
			}
		default:
			d.errorf(rng, "Unknown same_site", "%q is not a SameSite value. Use one of: lax, strict, none.", ss)
		}
	}
	if rng, ok := a.str("key", &af.Key); ok && len(af.Key) < 16 {
		d.errorf(rng, "Affinity key too short", "The cookie signing key must be at least 16 bytes; got %d.", len(af.Key))
	}
	a.intRange("table_size", 1, 1<<24, &af.TableSize)
	switch af.Type {
	case AffinityCookie:
		if af.Cookie == "" {
			af.Cookie = "wg_affinity"
		}
	case AffinityAppCookie:
		if af.Cookie == "" {
			d.errorf(b.DefRange, "Missing cookie name",
				"An app_cookie affinity follows a cookie the application sets: name it with cookie = \"NAME\".")
		}
	case AffinityHeader:
		if af.Header == "" {
			d.errorf(b.DefRange, "Missing header name",
				"A header affinity hashes a request header: name it with header = \"NAME\".")
		}
	}
	return af
}

func (d *decoder) decodeCircuitBreaker(s *source, b *hcl.Block) *CircuitBreaker {
	cb := &CircuitBreaker{DeclRange: b.DefRange}
	a, _ := d.content(s, b.Body, circuitBreakerSchema())
	a.intRange("max_connections", 1, math.MaxInt32, &cb.MaxConnections)
	a.intRange("max_pending_requests", 1, math.MaxInt32, &cb.MaxPendingRequests)
	a.intRange("max_requests", 1, math.MaxInt32, &cb.MaxRequests)
	return cb
}

// decodeRetryTraffic reads the retry attributes beyond attempts and on.
func (d *decoder) decodeRetryTraffic(a attrs, r *Retry) {
	a.duration("per_try_timeout", &r.PerTryTimeout)
	a.duration("backoff", &r.Backoff)
	a.duration("max_backoff", &r.MaxBackoff)
	backoff, maxBackoff := r.Backoff, r.MaxBackoff
	if backoff == 0 {
		backoff = defaultRetryBackoff
	}
	if maxBackoff == 0 {
		maxBackoff = defaultRetryMaxBackoff
	}
	if attr := a.m["max_backoff"]; attr != nil && maxBackoff < backoff {
		d.errorf(attr.Expr.Range(), "Maximum backoff too short",
			"The max_backoff (%s) must be at least the backoff (%s).", maxBackoff, backoff)
	}
	a.boolean("allow_post", &r.AllowPost)
	a.boolean("allow_body", &r.AllowBody)
	a.intRange("budget_percent", 1, 100, &r.BudgetPercent)
	a.intRange("min_retry_concurrency", 1, math.MaxInt32, &r.MinRetryConcurrency)
}
