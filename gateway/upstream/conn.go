package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/internal/h1"
)

// errPoolFull means the endpoint is at its connection limit.
var errPoolFull = errors.New("upstream: endpoint connection limit reached")

// errPoolClosed means the upstream was closed (config swapped out).
var errPoolClosed = errors.New("upstream: pool closed")

// conn is one keep-alive connection to an endpoint. It serves one request at
// a time; its body reader is reused for every streamed response on it.
type conn struct {
	pool     *connPool
	nc       net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
	// keepAlive is how long the endpoint keeps the connection open when
	// idle, from its Keep-Alive: timeout=N response header (less a margin);
	// 0 when it did not say.
	keepAlive time.Duration
	body      bodyReader
	scratch   []byte // copy buffer for request bodies written by hand
	// deadline is the read and write deadline last set on nc; the zero
	// time when unknown (a body read or a tunnel changed it since).
	deadline time.Time
	// since is when the current request took the connection.
	since time.Time
}

// armDeadline makes the connection's read and write deadline lie in
// [d, d+slack]. It sets d+slack only when the deadline already set is
// outside that window: with steady traffic that is one timer update per
// slack instead of two per request, and a timeout fires at most slack late.
func (c *conn) armDeadline(d time.Time, slack time.Duration) {
	if c.deadline.Before(d) || c.deadline.After(d.Add(slack)) {
		c.deadline = d.Add(slack)
		_ = c.nc.SetDeadline(c.deadline)
	}
}

// interrupt makes the I/O blocked on the connection return at once (a
// deadline in the past). The connection cannot be used after it: its
// cached deadline no longer says what is set.
func (c *conn) interrupt() {
	_ = c.nc.SetDeadline(time.Unix(1, 0))
}

// probeAfter is how long a kept-alive connection may sit idle before acquire
// checks, with a non-blocking read, that the endpoint has not closed it.
// Connections in steady use skip the check; it costs one non-blocking
// recvfrom(MSG_PEEK) (about a microsecond), and saves a failed request (a
// 502, or a resend) when the endpoint's keep-alive is shorter than ours.
const probeAfter = time.Second

// alive reports whether an idle connection is still open: nothing is
// buffered, and a non-blocking peek at the socket finds neither EOF nor
// data (an endpoint says nothing unasked on HTTP/1.1, so either means it is
// closing; on TLS it may be a close_notify alert).
func (c *conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	nc := c.nc
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	return peekAlive(nc)
}

// KeepAliveTimeout parses the timeout parameter of a Keep-Alive response
// header ("timeout=5, max=100") into how long the connection may be reused
// after going idle: a second less than the endpoint said (half of it for
// timeout=1), so the endpoint never closes it under a request. It returns 0
// when the header has no usable timeout, and 1ns for timeout=0.
func KeepAliveTimeout(v []byte) time.Duration {
	for len(v) > 0 {
		i := 0
		for i < len(v) && (v[i] == ' ' || v[i] == ',' || v[i] == '\t') {
			i++
		}
		v = v[i:]
		if len(v) >= 8 && h1.EqualFold(v[:8], "timeout=") {
			n, digits := 0, 0
			for _, b := range v[8:] {
				if b < '0' || b > '9' || n > 1<<20 {
					break
				}
				n = n*10 + int(b-'0')
				digits++
			}
			switch {
			case digits == 0:
				return 0
			case n == 0:
				return 1
			case n == 1:
				return 500 * time.Millisecond
			}
			return time.Duration(n-1) * time.Second
		}
		j := 0
		for j < len(v) && v[j] != ',' {
			j++
		}
		v = v[j:]
	}
	return 0
}

// writeStreamed writes req whose body is a stream: with its Content-Length
// as a fixed-size body, otherwise in chunked coding. A chunked body over limit
// (when limit > 0) fails with ErrBodyTooLarge. Failures to read the client's
// body (a bad chunk, a short body) wrap ErrClientBody, so the caller answers
// 400 instead of blaming the upstream.
func (c *conn) writeStreamed(req *fasthttp.Request, limit int64) error {
	cl := int64(req.Header.ContentLength())
	chunked := cl < 0
	if chunked {
		req.Header.SetContentLength(-1)
	}
	if err := req.Header.Write(c.bw); err != nil {
		return err
	}
	if c.scratch == nil {
		c.scratch = make([]byte, 16<<10)
	}
	body := req.BodyStream()
	var total int64
	for !chunked && total < cl || chunked {
		buf := c.scratch
		if !chunked && int64(len(buf)) > cl-total {
			buf = buf[:cl-total]
		}
		n, rerr := body.Read(buf)
		if n > 0 {
			total += int64(n)
			if chunked && limit > 0 && total > limit {
				return ErrBodyTooLarge
			}
			if chunked {
				var size [16]byte
				c.bw.Write(strconv.AppendInt(size[:0], int64(n), 16))
				c.bw.WriteString("\r\n")
			}
			c.bw.Write(buf[:n])
			if chunked {
				c.bw.WriteString("\r\n")
			}
		}
		if rerr == io.EOF {
			if !chunked && total < cl {
				return fmt.Errorf("%w: body ended after %d of %d bytes", ErrClientBody, total, cl)
			}
			break
		}
		if rerr != nil {
			return fmt.Errorf("%w: %w", ErrClientBody, rerr)
		}
	}
	if chunked {
		_, err := c.bw.WriteString("0\r\n\r\n")
		return err
	}
	return nil
}

// connPool keeps idle keep-alive connections to one endpoint, newest first.
type connPool struct {
	addr           string
	maxConns       int
	connectTimeout time.Duration
	idleTimeout    time.Duration
	dialer         net.Dialer
	tls            *tls.Config // set for HTTP/1.1 over TLS
	// lim holds the upstream-wide circuit-breaker counters shared by the
	// pools of one upstream.
	lim *limits
	// st is the endpoint's health state.
	st *epState

	mu     sync.Mutex
	idle   []*conn
	open   int
	closed bool
}

func newConnPool(addr string, maxConns int, connectTimeout, idleTimeout time.Duration) *connPool {
	return &connPool{
		addr:           addr,
		maxConns:       maxConns,
		connectTimeout: connectTimeout,
		idleTimeout:    idleTimeout,
		lim:            &limits{},
	}
}

// limits are the circuit breakers an upstream applies to connections:
// open connections over all its endpoints, and requests waiting for a new
// connection (being connected). Zero limits are unlimited; the counters
// are kept either way (they change per connection, not per request).
type limits struct {
	maxConns, maxPending int64
	conns, pending       atomic.Int64
}

// Circuit-breaker failures: the gateway answers 503 with the reason.
var (
	errBreakerConns   = errors.New("upstream: circuit breaker: max_connections")
	errBreakerPending = errors.New("upstream: circuit breaker: max_pending_requests")
)

// acquire returns an idle connection (reused=true) or dials a new one;
// fresh skips the idle connections.
func (p *connPool) acquire(ctx context.Context, now time.Time, deadline time.Time, fresh bool) (c *conn, reused bool, err error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, errPoolClosed
	}
	for n := len(p.idle); n > 0 && !fresh; n = len(p.idle) {
		c = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		idle := now.Sub(c.lastUsed)
		if idle < p.idleTimeout && (c.keepAlive == 0 || idle < c.keepAlive) {
			p.mu.Unlock()
			// Idle for a while: the endpoint may have closed it.
			if idle < probeAfter || c.alive() {
				return c, true, nil
			}
			p.discard(c)
			p.mu.Lock()
			continue
		}
		p.open--
		p.lim.conns.Add(-1)
		p.mu.Unlock()
		_ = c.nc.Close()
		p.mu.Lock()
	}
	if p.open >= p.maxConns {
		p.mu.Unlock()
		return nil, false, errPoolFull
	}
	lim := p.lim
	if lim.maxConns > 0 && lim.conns.Load() >= lim.maxConns {
		p.mu.Unlock()
		return nil, false, errBreakerConns
	}
	if n := lim.pending.Add(1); lim.maxPending > 0 && n > lim.maxPending {
		lim.pending.Add(-1)
		p.mu.Unlock()
		return nil, false, errBreakerPending
	}
	p.open++
	lim.conns.Add(1)
	p.mu.Unlock()

	c, err = p.dial(ctx, deadline)
	lim.pending.Add(-1)
	if err != nil {
		p.mu.Lock()
		p.open--
		lim.conns.Add(-1)
		p.mu.Unlock()
		return nil, false, err
	}
	return c, false, nil
}

func (p *connPool) dial(ctx context.Context, deadline time.Time) (*conn, error) {
	dctx := ctx
	connectDeadline := time.Now().Add(p.connectTimeout)
	if !deadline.IsZero() && deadline.Before(connectDeadline) {
		connectDeadline = deadline
	}
	dctx, cancel := context.WithDeadline(dctx, connectDeadline)
	defer cancel()
	nc, err := p.dialer.DialContext(dctx, "tcp", p.addr)
	if err != nil {
		return nil, &connectError{addr: p.addr, err: err}
	}
	if p.tls != nil {
		tc := tls.Client(nc, p.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = nc.Close()
			return nil, &connectError{addr: p.addr, err: err}
		}
		nc = tc
	}
	c := &conn{
		pool: p,
		nc:   nc,
		br:   bufio.NewReaderSize(nc, 16<<10),
		bw:   bufio.NewWriterSize(nc, 16<<10),
	}
	c.body.c = c
	return c, nil
}

// release returns a healthy connection to the idle list.
func (p *connPool) release(c *conn, now time.Time) {
	c.lastUsed = now
	p.mu.Lock()
	if p.closed {
		p.open--
		p.lim.conns.Add(-1)
		p.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// discard closes a connection that must not be reused.
func (p *connPool) discard(c *conn) {
	_ = c.nc.Close()
	p.mu.Lock()
	p.open--
	p.lim.conns.Add(-1)
	p.mu.Unlock()
}

// closeIdle closes connections idle for longer than the idle timeout, or all
// of them when all is set.
func (p *connPool) closeIdle(now time.Time, all bool) {
	p.mu.Lock()
	var stale []*conn
	keep := p.idle[:0]
	for _, c := range p.idle {
		if all || now.Sub(c.lastUsed) >= p.idleTimeout {
			stale = append(stale, c)
			continue
		}
		keep = append(keep, c)
	}
	for i := len(keep); i < len(p.idle); i++ {
		p.idle[i] = nil
	}
	p.idle = keep
	p.open -= len(stale)
	p.lim.conns.Add(-int64(len(stale)))
	p.mu.Unlock()
	for _, c := range stale {
		_ = c.nc.Close()
	}
}

// close stops reuse: idle connections close now, busy ones when released.
func (p *connPool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.closeIdle(time.Now(), true)
}

// connectError wraps a dial failure: the request never reached the endpoint.
type connectError struct {
	addr string
	err  error
}

func (e *connectError) Error() string { return fmt.Sprintf("connect %s: %v", e.addr, e.err) }
func (e *connectError) Unwrap() error { return e.err }
