// Package upstream forwards HTTP/1.1 requests to the endpoints of one
// upstream: it picks an endpoint with the balancer, keeps a keep-alive
// connection pool per endpoint, streams large bodies, retries what is safe to
// retry and maps failures to 502, 503 and 504.
package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/balancer"
)

// RetryOn is a set of conditions under which a request is tried again.
type RetryOn uint8

// Retry conditions.
const (
	// RetryConnectFailure retries when the connection could not be made;
	// the request never reached the endpoint, so any method is safe.
	RetryConnectFailure RetryOn = 1 << iota
	// RetryReset retries when the connection failed after the request was
	// sent and before a response arrived.
	RetryReset
	// RetryGatewayError retries a 502, 503 or 504 answer.
	RetryGatewayError
	// Retry5xx retries any 5xx answer.
	Retry5xx
	// RetryRefusedStream retries an HTTP/2 stream the endpoint refused
	// (REFUSED_STREAM: it was not processed, so any method is safe).
	RetryRefusedStream
)

// ParseRetryOn turns config names (connect-failure, reset, refused-stream,
// gateway-error, 5xx) into a RetryOn set. Status codes ("429") are
// accepted and left to ParseRetryCodes.
func ParseRetryOn(names []string) (RetryOn, error) {
	var r RetryOn
	for _, n := range names {
		switch n {
		case "connect-failure":
			r |= RetryConnectFailure
		case "reset":
			r |= RetryReset
		case "refused-stream":
			r |= RetryRefusedStream
		case "gateway-error":
			r |= RetryGatewayError
		case "5xx":
			r |= Retry5xx
		default:
			if code, ok := statusCode(n); !ok || code == 0 {
				return 0, fmt.Errorf("unknown retry condition %q", n)
			}
		}
	}
	return r, nil
}

// ParseRetryCodes returns the status codes among retry condition names
// ("503", "429"), for Config.RetryCodes.
func ParseRetryCodes(names []string) []int {
	var codes []int
	for _, n := range names {
		if code, ok := statusCode(n); ok {
			codes = append(codes, code)
		}
	}
	return codes
}

// statusCode parses a three-digit status code 100..599.
func statusCode(s string) (int, bool) {
	if len(s) != 3 {
		return 0, false
	}
	n := 0
	for i := range 3 {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n >= 100 && n <= 599
}

// EndpointConfig is one endpoint of an upstream.
type EndpointConfig struct {
	Address string // host:port
	Weight  int    // 0..100; 0 takes no new requests
	// Counters, when set, are counted on instead of new ones: the same
	// endpoint's in the config this one replaces.
	Counters *EndpointCounters
}

// Config describes an upstream. Zero durations and limits take the defaults.
type Config struct {
	Name           string
	Balancer       string // a balancer algorithm name
	Endpoints      []EndpointConfig
	Timeout        time.Duration // response timeout; default 30s
	ConnectTimeout time.Duration // default 5s
	IdleTimeout    time.Duration // upstream keep-alive; default 600s
	MaxConnections int           // per endpoint; default 1024
	RetryAttempts  int           // tries after the first
	RetryOn        RetryOn
	// RetryCodes are further statuses that are retried like RetryOn's.
	RetryCodes []int
	// RetryPerTryTimeout bounds each try (until the response head); a try
	// that exceeds it is retried when RetryOn has gateway-error, 5xx or
	// reset. 0: each try may take the whole Timeout.
	RetryPerTryTimeout time.Duration
	// RetryBackoff and RetryMaxBackoff: a retry that goes back to an
	// endpoint already tried (no other is eligible) first waits a random
	// time up to RetryBackoff×2^(n-1), at most RetryMaxBackoff; a retry on
	// another endpoint goes at once. Defaults 25ms and 250ms.
	RetryBackoff, RetryMaxBackoff time.Duration
	// RetryAllowPost lets non-idempotent requests (POST, PATCH) be retried
	// after they reached an endpoint; RetryAllowBody lets requests with a
	// buffered body be (a streamed body is never sent twice). A connect
	// failure is retried for any request: nothing was sent.
	RetryAllowPost, RetryAllowBody bool
	// RetryBudgetPercent caps the retries in progress at this share of the
	// requests in progress on the upstream, but always allows
	// RetryMinConcurrency of them; defaults 20 and 3. 100 or more turns the
	// budget off.
	RetryBudgetPercent, RetryMinConcurrency int

	// Breaker limits the upstream as a whole; past a limit the request is
	// answered 503 with the reason "circuit breaker: ...".
	Breaker Breaker
	// HealthCheck enables active health checks; nil disables them.
	HealthCheck *HealthCheck
	// Outlier enables passive outlier detection; nil disables it.
	Outlier *Outlier
	// Affinity enables session affinity; nil disables it.
	Affinity *Affinity
	// SlowStart ramps the traffic of an endpoint that recovers (becomes
	// healthy again) from 10% to its full share over this time; 0 disables.
	SlowStart time.Duration
	// Logger receives health changes; nil discards them.
	Logger *slog.Logger

	// MaxBufferedBody is the largest response body read whole; larger or
	// chunked bodies stream. Default 64 KiB.
	MaxBufferedBody int
	// Protocol is how endpoints are spoken to: ProtocolHTTP (the default),
	// ProtocolHTTPS, ProtocolH2 or ProtocolH2C.
	Protocol string
	// TLS is the client TLS configuration for https and h2 endpoints; nil
	// verifies against the system roots. An empty ServerName sends the
	// endpoint's host.
	TLS *tls.Config
}

// Breaker is the circuit-breaker configuration of an upstream; 0 means no
// limit.
type Breaker struct {
	// MaxConnections caps the open connections to all endpoints together
	// (HTTP/1.1 upstreams; HTTP/2 multiplexes and is not counted).
	MaxConnections int
	// MaxPendingRequests caps the requests waiting for a new connection
	// (no idle one was free, so one is being connected).
	MaxPendingRequests int
	// MaxRequests caps the requests in flight to all endpoints together,
	// response bodies included.
	MaxRequests int
}

// Upstream forwards requests to its endpoints. Safe for concurrent use.
type Upstream struct {
	cfg       Config
	picker    balancer.Picker
	endpoints []*balancer.Endpoint
	pools     map[*balancer.Endpoint]*connPool
	states    []*epState // per endpoint, in Endpoints order
	h2        *h2Client  // set for h2 and h2c upstreams
	lim       *limits
	aff       *affinity // nil without session affinity
	log       *slog.Logger

	// active counts requests inside Forward; retrying counts those of them
	// that have retried (the retry budget).
	active, retrying atomic.Int64

	ejectMu  sync.Mutex // outlier ejections across endpoints
	ejected  int
	eligible int // endpoints of positive weight

	stop chan struct{}
	done chan struct{}
	wg   sync.WaitGroup // health checkers and slow-start ramps
}

// New builds an upstream and starts its idle-connection janitor. Call Close
// when it is no longer used.
func New(cfg Config) (*Upstream, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("upstream %q: no endpoints", cfg.Name)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 600 * time.Second
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 1024
	}
	if cfg.MaxBufferedBody <= 0 {
		cfg.MaxBufferedBody = 64 << 10
	}
	if cfg.Balancer == "" {
		cfg.Balancer = "round_robin"
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 25 * time.Millisecond
	}
	if cfg.RetryMaxBackoff <= 0 {
		cfg.RetryMaxBackoff = 250 * time.Millisecond
	}
	cfg.RetryMaxBackoff = max(cfg.RetryMaxBackoff, cfg.RetryBackoff)
	if cfg.RetryBudgetPercent <= 0 {
		cfg.RetryBudgetPercent = 20
	}
	if cfg.RetryMinConcurrency <= 0 {
		cfg.RetryMinConcurrency = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.checkTraffic(); err != nil {
		return nil, fmt.Errorf("upstream %q: %w", cfg.Name, err)
	}
	u := &Upstream{
		cfg:   cfg,
		pools: make(map[*balancer.Endpoint]*connPool, len(cfg.Endpoints)),
		lim:   &limits{maxConns: int64(cfg.Breaker.MaxConnections), maxPending: int64(cfg.Breaker.MaxPendingRequests)},
		log:   cfg.Logger,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for i, e := range cfg.Endpoints {
		be := balancer.NewEndpoint(e.Address, e.Weight)
		u.endpoints = append(u.endpoints, be)
		u.pools[be] = newConnPool(e.Address, cfg.MaxConnections, cfg.ConnectTimeout, cfg.IdleTimeout)
		u.pools[be].lim = u.lim
		count := e.Counters
		if count == nil {
			count = new(EndpointCounters)
		}
		u.states = append(u.states, newEPState(be, i, u.pools[be], count))
		if be.Weight() > 0 {
			u.eligible++
		}
		if cfg.Protocol == ProtocolHTTPS {
			base := cfg.TLS
			if base == nil {
				base = &tls.Config{}
			}
			u.pools[be].tls = clientTLS(base, e.Address, "http/1.1")
		}
	}
	switch cfg.Protocol {
	case "", ProtocolHTTP, ProtocolHTTPS:
	case ProtocolH2, ProtocolH2C:
		u.h2 = newH2Client(&cfg)
	default:
		return nil, fmt.Errorf("upstream %q: unknown protocol %q", cfg.Name, cfg.Protocol)
	}
	p, err := balancer.New(cfg.Balancer, u.endpoints)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", cfg.Name, err)
	}
	u.picker = p
	if cfg.Affinity != nil {
		if u.aff, err = newAffinity(cfg.Affinity, u); err != nil {
			return nil, fmt.Errorf("upstream %q: %w", cfg.Name, err)
		}
	}
	go u.janitor()
	u.startHealthChecks()
	return u, nil
}

// Name returns the upstream's name.
func (u *Upstream) Name() string { return u.cfg.Name }

// Endpoints returns the balancer's endpoints, for health checks and admin.
func (u *Upstream) Endpoints() []*balancer.Endpoint { return u.endpoints }

// Close stops the janitor and closes idle connections; connections still
// serving a request close when they finish.
func (u *Upstream) Close() {
	select {
	case <-u.stop:
		return
	default:
	}
	close(u.stop)
	<-u.done
	u.stopHealth()
	for _, p := range u.pools {
		p.close()
	}
	if u.h2 != nil {
		u.h2.tr.CloseIdleConnections()
	}
}

func (u *Upstream) janitor() {
	defer close(u.done)
	every := u.cfg.IdleTimeout / 2
	if every > 30*time.Second {
		every = 30 * time.Second
	}
	// NewTicker panics on a zero interval (IdleTimeout of 1ns).
	every = max(every, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case now := <-t.C:
			for _, p := range u.pools {
				p.closeIdle(now, false)
			}
		}
	}
}

// StatusClientClosed is the Code of an Error for a request whose client
// left before its response head (nginx's 499): no one reads the answer,
// but logs and metrics record it.
const StatusClientClosed = 499

// Error is a forwarding failure with the status the client should get.
type Error struct {
	Code     int    // 502, 503, 504; 400 or 413 for the request's body; StatusClientClosed
	Reason   string // short, for logs and the x-wasmgate-reason header
	Endpoint string // "" when none was picked
	Err      error
}

func (e *Error) Error() string {
	if e.Endpoint == "" {
		return fmt.Sprintf("upstream: %s", e.Reason)
	}
	return fmt.Sprintf("upstream %s: %s: %v", e.Endpoint, e.Reason, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Status returns the HTTP status for the failure.
func (e *Error) Status() int { return e.Code }

// Preallocated errors for the paths that must not allocate.
var (
	errNoEndpoint         = &Error{Code: 503, Reason: "no healthy endpoint"}
	errBreakerMaxRequests = &Error{Code: 503, Reason: "circuit breaker: max_requests"}
)

// Call is one forwarded request's inputs and what forwarding did. It is
// meant to live in pooled per-request state so forwarding allocates nothing.
type Call struct {
	// Hint steers the balancer (affinity key) and collects tried endpoints.
	Hint balancer.Hint
	// MaxBody caps a chunked request body; a body over it fails the call
	// with status 413. 0 means no cap.
	MaxBody int64

	// Upgrade accepts a 101 Switching Protocols answer: the connection is
	// then handed over as Tunnel instead of going back to the pool.
	Upgrade bool
	// Tunnel is the switched connection after a 101 when Upgrade was set;
	// the caller must Close it.
	Tunnel *Tunnel

	// Timeout overrides the upstream's response timeout for this call
	// (a per-route timeout); 0 keeps the upstream's.
	Timeout time.Duration
	// Retries overrides the upstream's retry attempts when RetriesSet.
	Retries    int
	RetriesSet bool

	// Endpoint is the endpoint that answered (or failed last).
	Endpoint string
	// Tries counts attempts.
	Tries int
}

// ErrClientBody is the cause of a 400 failure: the client's request body
// could not be read (bad chunked framing, a body shorter than declared).
var ErrClientBody = errors.New("malformed request body")

// ErrBodyTooLarge is the cause of a 413 failure.
var ErrBodyTooLarge = errors.New("request body exceeds the limit")

type failKind uint8

const (
	failNone failKind = iota
	failConnect
	failReset
	failTimeout
	failProtocol
	failPoolFull
	failBodyTooLarge
	failClientBody
	failRefused // HTTP/2 REFUSED_STREAM: not processed
	failBreakerConns
	failBreakerPending
	// failCancelled: the request's context ended (the client reset its
	// HTTP/2 or HTTP/3 stream, or left): not the endpoint's fault, and
	// there is no one to retry for.
	failCancelled

	numFailKinds // the count of the kinds above; keep last
)

// Forward sends req to an endpoint and reads the response head into resp.
//
// The response body is either read whole into resp or attached to it as a
// stream that owns the upstream connection; the fasthttp server closes that
// stream after writing it (a caller that does not write resp must call
// resp.CloseBodyStream or Reset). req must carry no hop-by-hop headers; its
// body is sent as is. A failure is returned as *Error.
//
// With session affinity the endpoint follows the request's binding while it
// is eligible, and a gateway affinity cookie (Set-Cookie) is added to resp
// when the binding is new or moved. Each try feeds outlier detection;
// retries follow the retry policy and budget; the circuit breakers answer
// 503 with a "circuit breaker: ..." reason.
func (u *Upstream) Forward(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response, call *Call) error {
	call.Endpoint, call.Tries = "", 0
	if m := u.cfg.Breaker.MaxRequests; m > 0 && u.inFlight() >= int64(m) {
		return errBreakerMaxRequests
	}
	u.active.Add(1)
	var err error
	retried := false
	if u.h2 != nil {
		err = u.forwardH2(ctx, req, resp, call, &retried)
	} else {
		err = u.forward(ctx, req, resp, call, &retried)
	}
	if retried {
		u.retrying.Add(-1)
	}
	u.active.Add(-1)
	return err
}

// attempt is what one call's tries share.
type attempt struct {
	deadline time.Time
	// hasBody: the request has a body; resend: it may be sent again after
	// it reached an endpoint (idempotent, or allowed, and replayable).
	hasBody, resend bool
	aff             affinityState
}

func (u *Upstream) newAttempt(ctx context.Context, req *fasthttp.Request, call *Call) attempt {
	a := attempt{deadline: time.Now().Add(u.timeout(call))}
	if d, ok := ctx.Deadline(); ok && d.Before(a.deadline) {
		a.deadline = d
	}
	// -2 is fasthttp's "no framing": a GET or HEAD without a body. A body
	// set with SetBody has no Content-Length until the request is written.
	cl := req.Header.ContentLength()
	a.hasBody = cl > 0 || cl == -1 || req.IsBodyStream() || len(req.Body()) > 0
	a.resend = (isIdempotent(req) || u.cfg.RetryAllowPost) &&
		(!a.hasBody || u.cfg.RetryAllowBody && !req.IsBodyStream())
	if u.aff != nil {
		u.aff.begin(req, call, &a.aff)
	}
	return a
}

// pick chooses the endpoint of the next try: the affinity target while it
// is eligible and untried, else the balancer's choice. A try that goes back
// to an endpoint already tried waits for the backoff first.
func (u *Upstream) pick(call *Call, a *attempt) *balancer.Endpoint {
	hint := &call.Hint
	var ep *balancer.Endpoint
	if u.aff != nil {
		ep = u.aff.pick(hint, &a.aff)
	}
	if ep == nil {
		ep = u.picker.Pick(*hint)
	}
	if ep == nil {
		return nil
	}
	if call.Tries > 0 && hint.Excluded(ep) {
		u.backoff(call.Tries, a.deadline)
	}
	hint.Exclude(ep)
	call.Tries++
	call.Endpoint = ep.Address()
	return ep
}

// tryDeadline is the deadline of a try starting now.
func (u *Upstream) tryDeadline(a *attempt) time.Time {
	if pt := u.cfg.RetryPerTryTimeout; pt > 0 {
		if d := time.Now().Add(pt); d.Before(a.deadline) {
			return d
		}
	}
	return a.deadline
}

// forward is Forward for HTTP/1.1 upstreams.
func (u *Upstream) forward(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response, call *Call, retried *bool) error {
	a := u.newAttempt(ctx, req, call)
	for {
		if err := ctx.Err(); err != nil {
			return failure(ctxFailure(ctx), "", err) // ended during a backoff
		}
		ep := u.pick(call, &a)
		if ep == nil {
			return errNoEndpoint
		}
		st := u.pools[ep].st
		ep.Acquire()
		tryEnd := u.tryDeadline(&a)
		kind, err := u.try(ctx, ep, st.pool, req, resp, tryEnd, a.hasBody, call)
		status := 0
		if kind == failNone {
			status = resp.StatusCode()
		}
		u.observe(st, kind, status)
		if kind == failNone {
			if a.resend && u.retryStatus(status) && u.mayRetry(call, &a, retried) {
				_ = resp.CloseBodyStream()
				continue
			}
			if u.aff != nil {
				u.aff.done(st, resp, &a.aff)
			}
			return nil
		}
		ep.Release()
		if u.retryable(kind, &a, tryEnd) && u.mayRetry(call, &a, retried) {
			continue
		}
		return failure(kind, ep.Address(), err)
	}
}

// retryable reports whether a failed try may be repeated, as far as the
// failure and the request go.
func (u *Upstream) retryable(kind failKind, a *attempt, tryEnd time.Time) bool {
	on := u.cfg.RetryOn
	switch kind {
	case failConnect, failPoolFull:
		// Nothing reached the endpoint: safe for any method.
		return on&RetryConnectFailure != 0
	case failRefused:
		return on&RetryRefusedStream != 0
	case failReset:
		return on&RetryReset != 0 && a.resend
	case failTimeout:
		// A per-try timeout, with time left: like a 504 (or a reset).
		return tryEnd.Before(a.deadline) && on&(RetryGatewayError|Retry5xx|RetryReset) != 0 && a.resend
	}
	return false
}

// mayRetry reports whether the call may make another try: attempts and
// time are left, and the retry budget allows it.
func (u *Upstream) mayRetry(call *Call, a *attempt, retried *bool) bool {
	if call.Tries > u.attempts(call) || !time.Now().Before(a.deadline) {
		return false
	}
	if *retried {
		return true
	}
	if pct := u.cfg.RetryBudgetPercent; pct < 100 {
		allowed := max(int64(u.cfg.RetryMinConcurrency), u.active.Load()*int64(pct)/100)
		if u.retrying.Load() >= allowed {
			return false
		}
	}
	u.retrying.Add(1)
	*retried = true
	return true
}

// backoff sleeps before the try-th retry to an endpoint already tried: a
// random time up to RetryBackoff×2^(try-1), capped, and not past deadline.
func (u *Upstream) backoff(try int, deadline time.Time) {
	d := u.cfg.RetryBackoff << min(try-1, 16)
	if d <= 0 || d > u.cfg.RetryMaxBackoff {
		d = u.cfg.RetryMaxBackoff
	}
	d = time.Duration(rand.Int64N(int64(d) + 1))
	if left := time.Until(deadline); d > left {
		d = left
	}
	if d > 0 {
		time.Sleep(d)
	}
}

// inFlight is the number of requests in flight to the upstream.
func (u *Upstream) inFlight() int64 {
	var n int64
	for _, e := range u.endpoints {
		n += e.InFlight()
	}
	return n
}

// timeout is the call's response timeout: its override or the upstream's.
func (u *Upstream) timeout(call *Call) time.Duration {
	if call.Timeout > 0 {
		return call.Timeout
	}
	return u.cfg.Timeout
}

// attempts is how many retries the call may make.
func (u *Upstream) attempts(call *Call) int {
	if call.RetriesSet {
		return call.Retries
	}
	return u.cfg.RetryAttempts
}

func (u *Upstream) retryStatus(status int) bool {
	switch {
	case u.cfg.RetryOn&Retry5xx != 0 && status >= 500 && status <= 599:
		return true
	case u.cfg.RetryOn&RetryGatewayError != 0 && (status == 502 || status == 503 || status == 504):
		return true
	}
	for _, c := range u.cfg.RetryCodes {
		if c == status {
			return true
		}
	}
	return false
}

func failure(kind failKind, addr string, err error) error {
	switch kind {
	case failTimeout:
		return &Error{Code: 504, Reason: "upstream timeout", Endpoint: addr, Err: err}
	case failPoolFull:
		return &Error{Code: 503, Reason: "endpoint connection limit", Endpoint: addr, Err: err}
	case failConnect:
		return &Error{Code: 502, Reason: "connect failure", Endpoint: addr, Err: err}
	case failBodyTooLarge:
		return &Error{Code: 413, Reason: "request body too large", Endpoint: addr, Err: err}
	case failClientBody:
		return &Error{Code: 400, Reason: "malformed request body", Endpoint: addr, Err: err}
	case failProtocol:
		return &Error{Code: 502, Reason: "invalid upstream response", Endpoint: addr, Err: err}
	case failBreakerConns:
		return &Error{Code: 503, Reason: "circuit breaker: max_connections", Endpoint: addr, Err: err}
	case failBreakerPending:
		return &Error{Code: 503, Reason: "circuit breaker: max_pending_requests", Endpoint: addr, Err: err}
	case failRefused:
		return &Error{Code: 502, Reason: "upstream refused stream", Endpoint: addr, Err: err}
	case failCancelled:
		return &Error{Code: StatusClientClosed, Reason: "client closed request", Endpoint: addr, Err: err}
	}
	return &Error{Code: 502, Reason: "upstream reset", Endpoint: addr, Err: err}
}

// try performs one attempt on ep. On success the endpoint's in-flight count
// stays acquired until the body is done (now, or when the stream closes).
func (u *Upstream) try(ctx context.Context, ep *balancer.Endpoint, pool *connPool, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, hasBody bool, call *Call) (failKind, error) {
	for stale := 0; ; stale++ {
		now := time.Now()
		// The retry after a stale connection dials: the other idle
		// connections are likely dead too (the endpoint restarted).
		c, reused, err := pool.acquire(ctx, now, deadline, stale > 0)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctxFailure(ctx), err // the dial was cut short
			case errors.Is(err, errPoolFull):
				return failPoolFull, err
			case err == errBreakerConns:
				return failBreakerConns, err
			case err == errBreakerPending:
				return failBreakerPending, err
			case isTimeout(err) && !time.Now().Before(deadline):
				return failTimeout, err
			}
			return failConnect, err
		}
		c.since = now
		kind, err := u.exchange(ctx, c, ep, req, resp, deadline, deadline.Sub(now)/8, call)
		if kind == failReset && reused && stale == 0 && !hasBody && isStale(err) {
			// A kept-alive connection the endpoint closed while idle:
			// nothing was processed, so try once on a fresh one.
			continue
		}
		return kind, err
	}
}

// exchange writes req on c and reads the response head (and a small body).
//
// When ctx can end (an HTTP/2 or HTTP/3 client's stream), its end while
// the request is written or the head awaited cuts the connection's I/O
// short: the connection is dropped and the try fails (ctxFailure), so the
// endpoint's connection and in-flight slot are freed at once instead of
// when the response timeout passes.
func (u *Upstream) exchange(ctx context.Context, c *conn, ep *balancer.Endpoint, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, slack time.Duration, call *Call) (failKind, error) {
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.interrupt)
	}
	kind, err := u.sendAndReadHead(c, req, resp, deadline, slack, call.MaxBody)
	// The watch ends before c can go back to the pool: an interrupt after
	// that would hit another request.
	if stop != nil && !stop() {
		if kind == failNone {
			c.pool.discard(c)
		}
		return ctxFailure(ctx), fmt.Errorf("request context ended: %w", context.Cause(ctx))
	}
	if kind != failNone {
		return kind, err
	}
	return u.readRest(c, ep, req, resp, call)
}

// ctxFailure is how a try whose context ended failed: a deadline is a
// timeout (504); a cancel means the client left (499).
func ctxFailure(ctx context.Context) failKind {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return failTimeout
	}
	return failCancelled
}

// sendAndReadHead writes req on c and reads the final response head (or a
// 101). On failure c is discarded.
func (u *Upstream) sendAndReadHead(c *conn, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, slack time.Duration, maxBody int64) (failKind, error) {
	c.armDeadline(deadline, slack)
	var err error
	if req.IsBodyStream() {
		err = c.writeStreamed(req, maxBody)
	} else {
		err = req.Write(c.bw)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.pool.discard(c)
		if errors.Is(err, ErrBodyTooLarge) {
			return failBodyTooLarge, err
		}
		if errors.Is(err, ErrClientBody) {
			return failClientBody, err
		}
		if isTimeout(err) {
			return failTimeout, err
		}
		return failReset, err
	}
	// Reset only the body: resp.Reset would also clear flags the server
	// set on the header (no default Content-Type); Header.Read resets the
	// fields themselves.
	_ = resp.CloseBodyStream()
	resp.ResetBody()
	resp.SkipBody = false
	for {
		err = resp.Header.Read(c.br)
		if err != nil {
			c.pool.discard(c)
			if isTimeout(err) {
				return failTimeout, err
			}
			if isStale(err) || isConnErr(err) {
				return failReset, err
			}
			return failProtocol, err
		}
		st := resp.Header.StatusCode()
		if st >= 200 || st == fasthttp.StatusSwitchingProtocols {
			break
		}
		// 1xx interim responses are not forwarded on HTTP/1.1 yet.
	}
	return failNone, nil
}

// readRest decides what becomes of c after the response head: reused,
// dropped, a tunnel, or the owner of a streamed body; a small body is read
// whole.
func (u *Upstream) readRest(c *conn, ep *balancer.Endpoint, req *fasthttp.Request, resp *fasthttp.Response, call *Call) (failKind, error) {
	st := resp.Header.StatusCode()
	// After a 101 the connection no longer speaks HTTP/1.1: never reuse it.
	keep := st != fasthttp.StatusSwitchingProtocols && !resp.Header.ConnectionClose() && !req.Header.ConnectionClose()
	resp.Header.ResetConnectionClose()
	if keep {
		// Honour the endpoint's idle timeout when it announces one.
		if ka := resp.Header.Peek("Keep-Alive"); len(ka) > 0 {
			c.keepAlive = KeepAliveTimeout(ka)
		}
	}
	if st == fasthttp.StatusSwitchingProtocols && call.Upgrade {
		resp.SkipBody = true
		call.Tunnel = newTunnel(c, ep)
		return failNone, nil
	}
	if req.Header.IsHead() || st == 204 || st == 304 || st < 200 {
		resp.SkipBody = true
		u.finish(c, ep, keep)
		return failNone, nil
	}
	cl := resp.Header.ContentLength()
	switch {
	case cl >= 0 && cl <= u.cfg.MaxBufferedBody:
		if err := resp.ReadBody(c.br, 0); err != nil {
			c.pool.discard(c)
			if isTimeout(err) {
				return failTimeout, err
			}
			return failReset, err
		}
		u.finish(c, ep, keep)
	case cl >= 0:
		c.body.start(framingLength, int64(cl), keep, u.cfg.Timeout, ep)
		resp.SetBodyStream(&c.body, cl)
	case cl == -1:
		c.body.start(framingChunked, 0, keep, u.cfg.Timeout, ep)
		resp.SetBodyStream(&c.body, -1)
	default:
		// Delimited by the endpoint closing the connection.
		c.body.start(framingClose, 0, false, u.cfg.Timeout, ep)
		resp.SetBodyStream(&c.body, -1)
	}
	return failNone, nil
}

func (u *Upstream) finish(c *conn, ep *balancer.Endpoint, keep bool) {
	ep.Release()
	if keep {
		// The request's start stands in for "now": idle time is only
		// compared against seconds, and a clock read costs.
		c.pool.release(c, c.since)
	} else {
		c.pool.discard(c)
	}
}

func isIdempotent(req *fasthttp.Request) bool {
	h := &req.Header
	return h.IsGet() || h.IsHead() || h.IsOptions() || h.IsTrace() || h.IsPut() || h.IsDelete()
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout())
}

// isStale reports errors that mean the peer closed a kept-alive connection.
func isStale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isConnErr(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}
