package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"

	"github.com/wasmgate/wasmgate/gateway/balancer"
	"github.com/wasmgate/wasmgate/gateway/internal/h1"
)

// Upstream protocols, the values of Config.Protocol.
const (
	ProtocolHTTP  = "http"  // HTTP/1.1 (the default)
	ProtocolHTTPS = "https" // HTTP/1.1 over TLS
	ProtocolH2    = "h2"    // HTTP/2 over TLS (ALPN h2)
	ProtocolH2C   = "h2c"   // cleartext HTTP/2 with prior knowledge
)

// h2Client forwards over HTTP/2. One http2.Transport per upstream keeps a
// pool of multiplexed connections per endpoint address; the balancer,
// retries and failure statuses are those of the HTTP/1.1 path.
type h2Client struct {
	tr     *http2.Transport
	scheme string
}

func newH2Client(cfg *Config) *h2Client {
	d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	c := &h2Client{scheme: "https"}
	c.tr = &http2.Transport{
		IdleConnTimeout:    cfg.IdleTimeout,
		DisableCompression: true,
		ReadIdleTimeout:    30 * time.Second,
		PingTimeout:        15 * time.Second,
	}
	if cfg.Protocol == ProtocolH2C {
		c.scheme = "http"
		c.tr.AllowHTTP = true
		c.tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &connectError{addr: addr, err: err}
			}
			return nc, nil
		}
		return c
	}
	base := cfg.TLS
	if base == nil {
		base = &tls.Config{}
	}
	c.tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, &connectError{addr: addr, err: err}
		}
		tc := tls.Client(nc, clientTLS(base, addr, "h2"))
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, &connectError{addr: addr, err: err}
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			_ = nc.Close()
			return nil, &connectError{addr: addr, err: fmt.Errorf("endpoint negotiated %q, not h2", p)}
		}
		return tc, nil
	}
	return c
}

// clientTLS returns base for one endpoint: SNI from the endpoint's host
// unless base names a server, ALPN proto.
func clientTLS(base *tls.Config, addr, proto string) *tls.Config {
	c := base.Clone()
	if c.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			c.ServerName = host
		}
	}
	c.NextProtos = []string{proto}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// forwardH2 is Forward for HTTP/2 upstreams.
func (u *Upstream) forwardH2(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response, call *Call, retried *bool) error {
	a := u.newAttempt(ctx, req, call)
	for {
		ep := u.pick(call, &a)
		if ep == nil {
			return errNoEndpoint
		}
		st := u.pools[ep].st
		ep.Acquire()
		tryEnd := u.tryDeadline(&a)
		rctx, cancel := context.WithDeadline(ctx, a.deadline)
		hreq, err := u.h2Request(rctx, ep.Address(), req, call.MaxBody)
		if err != nil {
			cancel()
			ep.Release()
			return &Error{Code: 400, Reason: "request cannot be forwarded", Endpoint: ep.Address(), Err: err}
		}
		// A per-try timeout bounds the wait for the response head only.
		var perTry *time.Timer
		if tryEnd.Before(a.deadline) {
			perTry = time.AfterFunc(time.Until(tryEnd), cancel)
		}
		hresp, err := u.h2.tr.RoundTrip(hreq)
		triedOut := perTry != nil && !perTry.Stop()
		if err == nil && triedOut {
			_ = hresp.Body.Close()
			err = context.DeadlineExceeded
		}
		if err != nil {
			cancel()
			ep.Release()
			kind := failReset
			var ce *connectError
			var se http2.StreamError
			switch {
			case errors.Is(ctx.Err(), context.Canceled):
				kind = failCancelled // the client's stream ended
			case errors.Is(err, ErrBodyTooLarge):
				kind = failBodyTooLarge
			case errors.As(err, &ce):
				kind = failConnect
			case errors.As(err, &se) && se.Code == http2.ErrCodeRefusedStream:
				kind = failRefused
			case triedOut || isTimeout(err) || errors.Is(err, context.DeadlineExceeded):
				kind = failTimeout
			}
			u.observe(st, kind, 0)
			if u.retryable(kind, &a, tryEnd) && u.mayRetry(call, &a, retried) {
				continue
			}
			return failure(kind, ep.Address(), err)
		}
		u.observe(st, failNone, hresp.StatusCode)
		if a.resend && u.retryStatus(hresp.StatusCode) && u.mayRetry(call, &a, retried) {
			_ = hresp.Body.Close()
			cancel()
			ep.Release()
			continue
		}
		u.h2Response(resp, hresp, ep, cancel, req.Header.IsHead())
		if u.aff != nil {
			u.aff.done(st, resp, &a.aff)
		}
		return nil
	}
}

// h2Request builds the upstream request for endpoint addr.
func (u *Upstream) h2Request(ctx context.Context, addr string, req *fasthttp.Request, maxBody int64) (*http.Request, error) {
	uri := string(req.Header.RequestURI())
	if uri == "" || uri[0] != '/' && uri != "*" {
		uri = "/" + uri
	}
	var body io.Reader
	var trailer http.Header
	cl := int64(req.Header.ContentLength())
	switch {
	case req.IsBodyStream():
		body = req.BodyStream()
		if t, ok := body.(interface{ Trailer() http.Header }); ok {
			// A body that ends with trailers (an HTTP/2 or HTTP/3
			// client's): its map is announced now and sent after the
			// body, with the values it holds once the body has ended.
			trailer = t.Trailer()
		}
		if cl < 0 {
			cl = -1
			if maxBody > 0 {
				body = &h2LimitedBody{r: body, left: maxBody}
			}
		}
	case len(req.Body()) > 0:
		body = bytes.NewReader(req.Body())
		cl = int64(len(req.Body()))
	default:
		cl = 0
	}
	hreq, err := http.NewRequestWithContext(ctx, string(req.Header.Method()), u.h2.scheme+"://"+addr+uri, body)
	if err != nil {
		return nil, err
	}
	hreq.ContentLength = cl
	hreq.Trailer = trailer
	if body != nil && cl != 0 {
		// http.NewRequest unwraps known readers only; keep the stream.
		hreq.Body = io.NopCloser(body)
	}
	hreq.Host = string(req.Header.Host())
	for k, v := range req.Header.All() {
		switch {
		case h1.EqualFold(k, "host"), h1.EqualFold(k, "content-length"), h1.EqualFold(k, "transfer-encoding"),
			h1.EqualFold(k, "connection"), h1.EqualFold(k, "te"), h1.EqualFold(k, "upgrade"), h1.EqualFold(k, "keep-alive"):
			continue
		}
		hreq.Header.Add(string(k), string(v))
	}
	// This proxy passes trailers through (gRPC needs them and says so).
	hreq.Header.Set("Te", "trailers")
	return hreq, nil
}

// h2Response fills resp from hresp: small bodies are read whole, others
// (and any with trailers to come) stream, keeping ep in flight until done.
func (u *Upstream) h2Response(resp *fasthttp.Response, hresp *http.Response, ep *balancer.Endpoint, cancel context.CancelFunc, head bool) {
	_ = resp.CloseBodyStream()
	resp.ResetBody()
	resp.SkipBody = false
	h := &resp.Header
	h.Reset()
	h.SetNoDefaultContentType(true)
	h.SetStatusCode(hresp.StatusCode)
	for k, vs := range hresp.Header {
		if k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	b := &h2Body{resp: hresp, ep: ep, cancel: cancel}
	st := hresp.StatusCode
	if head || st == 204 || st == 304 {
		resp.SkipBody = true
		b.Close()
		return
	}
	if hresp.ContentLength >= 0 && hresp.ContentLength <= int64(u.cfg.MaxBufferedBody) && len(hresp.Trailer) == 0 {
		data, err := io.ReadAll(hresp.Body)
		if err == nil && len(hresp.Trailer) == 0 {
			resp.SetBody(data)
			b.Close()
			return
		}
		resp.SetBodyStream(&replayBody{data: data, rest: b}, -1)
		return
	}
	resp.SetBodyStream(b, int(max(hresp.ContentLength, -1)))
}

// h2Body streams an HTTP/2 upstream response body and then offers its
// trailers. Close releases the endpoint.
type h2Body struct {
	resp   *http.Response
	ep     *balancer.Endpoint
	cancel context.CancelFunc
	once   sync.Once
}

func (b *h2Body) Read(p []byte) (int, error) {
	n, err := b.resp.Body.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("upstream body: %w", err)
	}
	return n, err
}

// Trailer returns the response trailers; complete once Read returned EOF.
func (b *h2Body) Trailer() http.Header { return b.resp.Trailer }

// Close ends the stream and releases the endpoint.
func (b *h2Body) Close() error {
	b.once.Do(func() {
		_ = b.resp.Body.Close()
		b.cancel()
		b.ep.Release()
	})
	return nil
}

// replayBody returns data already read, then the rest of a body.
type replayBody struct {
	data []byte
	rest *h2Body
}

func (r *replayBody) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	return r.rest.Read(p)
}

// Trailer returns the trailers of the body.
func (r *replayBody) Trailer() http.Header { return r.rest.Trailer() }

// Close releases the body.
func (r *replayBody) Close() error { return r.rest.Close() }

// h2LimitedBody fails with ErrBodyTooLarge past its limit.
type h2LimitedBody struct {
	r    io.Reader
	left int64
}

func (l *h2LimitedBody) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, ErrBodyTooLarge
	}
	return n, err
}
