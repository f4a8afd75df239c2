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
	"time"

	"github.com/valyala/fasthttp"
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
	body     bodyReader
	scratch  []byte // copy buffer for request bodies written by hand
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
	}
}

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
		if now.Sub(c.lastUsed) < p.idleTimeout {
			p.mu.Unlock()
			return c, true, nil
		}
		p.open--
		p.mu.Unlock()
		_ = c.nc.Close()
		p.mu.Lock()
	}
	if p.open >= p.maxConns {
		p.mu.Unlock()
		return nil, false, errPoolFull
	}
	p.open++
	p.mu.Unlock()

	c, err = p.dial(ctx, deadline)
	if err != nil {
		p.mu.Lock()
		p.open--
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
