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
	"net"
	"os"
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
)

// ParseRetryOn turns config names (connect-failure, reset, gateway-error,
// 5xx) into a RetryOn set.
func ParseRetryOn(names []string) (RetryOn, error) {
	var r RetryOn
	for _, n := range names {
		switch n {
		case "connect-failure":
			r |= RetryConnectFailure
		case "reset":
			r |= RetryReset
		case "gateway-error":
			r |= RetryGatewayError
		case "5xx":
			r |= Retry5xx
		default:
			return 0, fmt.Errorf("unknown retry condition %q", n)
		}
	}
	return r, nil
}

// EndpointConfig is one endpoint of an upstream.
type EndpointConfig struct {
	Address string // host:port
	Weight  int    // 0..100; 0 takes no new requests
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

// Upstream forwards requests to its endpoints. Safe for concurrent use.
type Upstream struct {
	cfg       Config
	picker    balancer.Picker
	endpoints []*balancer.Endpoint
	pools     map[*balancer.Endpoint]*connPool
	h2        *h2Client // set for h2 and h2c upstreams
	stop      chan struct{}
	done      chan struct{}
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
	u := &Upstream{
		cfg:   cfg,
		pools: make(map[*balancer.Endpoint]*connPool, len(cfg.Endpoints)),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for _, e := range cfg.Endpoints {
		be := balancer.NewEndpoint(e.Address, e.Weight)
		u.endpoints = append(u.endpoints, be)
		u.pools[be] = newConnPool(e.Address, cfg.MaxConnections, cfg.ConnectTimeout, cfg.IdleTimeout)
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
	go u.janitor()
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

// Error is a forwarding failure with the status the client should get.
type Error struct {
	Code     int    // 502, 503 or 504
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
var errNoEndpoint = &Error{Code: 503, Reason: "no healthy endpoint"}

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
)

// Forward sends req to an endpoint and reads the response head into resp.
//
// The response body is either read whole into resp or attached to it as a
// stream that owns the upstream connection; the fasthttp server closes that
// stream after writing it (a caller that does not write resp must call
// resp.CloseBodyStream or Reset). req must carry no hop-by-hop headers; its
// body is sent as is. A failure is returned as *Error.
func (u *Upstream) Forward(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response, call *Call) error {
	if u.h2 != nil {
		return u.forwardH2(ctx, req, resp, call)
	}
	call.Endpoint, call.Tries = "", 0
	hint := &call.Hint
	now := time.Now()
	deadline := now.Add(u.timeout(call))
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// -2 is fasthttp's "no framing": a GET or HEAD without a body. A body
	// set with SetBody has no Content-Length until the request is written.
	cl := req.Header.ContentLength()
	hasBody := cl > 0 || cl == -1 || req.IsBodyStream() || len(req.Body()) > 0
	idempotent := isIdempotent(req)
	for {
		ep := u.picker.Pick(*hint)
		if ep == nil {
			return errNoEndpoint
		}
		hint.Exclude(ep)
		call.Tries++
		call.Endpoint = ep.Address()
		ep.Acquire()
		kind, err := u.try(ctx, ep, req, resp, deadline, hasBody, call)
		if kind == failNone {
			status := resp.StatusCode()
			if call.Tries <= u.attempts(call) && !hasBody && idempotent && u.retryStatus(status) && time.Now().Before(deadline) {
				_ = resp.CloseBodyStream()
				continue
			}
			return nil
		}
		ep.Release()
		retry := false
		switch kind {
		case failConnect, failPoolFull:
			// Nothing reached the endpoint: safe for any method.
			retry = u.cfg.RetryOn&RetryConnectFailure != 0
		case failReset:
			retry = u.cfg.RetryOn&RetryReset != 0 && !hasBody && idempotent
		}
		if retry && call.Tries <= u.attempts(call) && time.Now().Before(deadline) {
			continue
		}
		return failure(kind, ep.Address(), err)
	}
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
	}
	return &Error{Code: 502, Reason: "upstream reset", Endpoint: addr, Err: err}
}

// try performs one attempt on ep. On success the endpoint's in-flight count
// stays acquired until the body is done (now, or when the stream closes).
func (u *Upstream) try(ctx context.Context, ep *balancer.Endpoint, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, hasBody bool, call *Call) (failKind, error) {
	pool := u.pools[ep]
	for stale := 0; ; stale++ {
		now := time.Now()
		// The retry after a stale connection dials: the other idle
		// connections are likely dead too (the endpoint restarted).
		c, reused, err := pool.acquire(ctx, now, deadline, stale > 0)
		if err != nil {
			switch {
			case errors.Is(err, errPoolFull):
				return failPoolFull, err
			case isTimeout(err) && !time.Now().Before(deadline):
				return failTimeout, err
			}
			return failConnect, err
		}
		kind, err := u.exchange(c, ep, req, resp, deadline, call)
		if kind == failReset && reused && stale == 0 && !hasBody && isStale(err) {
			// A kept-alive connection the endpoint closed while idle:
			// nothing was processed, so try once on a fresh one.
			continue
		}
		return kind, err
	}
}

// exchange writes req on c and reads the response head (and a small body).
func (u *Upstream) exchange(c *conn, ep *balancer.Endpoint, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, call *Call) (failKind, error) {
	maxBody := call.MaxBody
	_ = c.nc.SetWriteDeadline(deadline)
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
	_ = c.nc.SetReadDeadline(deadline)
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
	st := resp.Header.StatusCode()
	// After a 101 the connection no longer speaks HTTP/1.1: never reuse it.
	keep := st != fasthttp.StatusSwitchingProtocols && !resp.Header.ConnectionClose() && !req.Header.ConnectionClose()
	resp.Header.ResetConnectionClose()
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
		c.pool.release(c, time.Now())
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
