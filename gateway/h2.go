package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/internal/h1"
)

// This file adapts net/http's HTTP/2 server (and quic-go's HTTP/3 server,
// which uses the same Handler interface) onto the protocol-neutral request
// path: the http.Request becomes a pooled fasthttp.Request, serveRequest
// runs, and the fasthttp.Response is written back with its body streamed
// and flushed and its trailers, if any.

// connInfoKey keys the per-connection clientConn in a connection context.
type connInfoKey struct{}

// newH2Server returns the listener's HTTP/2 server: h2 over TLS (ALPN) and
// h2c with prior knowledge, as the accept loop routes them.
func newH2Server(l *h1Listener, lc *conf.Listener) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true) // required by net/http; the accept loop never sends h1
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           &httpFront{l: l, proto: exchange.HTTP2},
		Protocols:         &p,
		ReadHeaderTimeout: lc.ReadHeaderTimeout,
		IdleTimeout:       lc.IdleTimeout,
		// x/net/http2 also uses this as the HPACK string limit, and a field
		// over it is a connection error (GOAWAY), not a 431. Leave headroom
		// and enforce max_header_size per request in the handler.
		MaxHeaderBytes: 4 * int(lc.MaxHeaderSize),
		ErrorLog:       log.New(io.Discard, "", 0),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          lc.HTTP2MaxConcurrentStreams,
			MaxReceiveBufferPerStream:     int(lc.HTTP2StreamWindow),
			MaxReceiveBufferPerConnection: int(lc.HTTP2ConnectionWindow),
			// The protocol default; clients' frames beyond it are errors.
			MaxReadFrameSize: 16 << 10,
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connInfoKey{}, l.connInfo(c, exchange.HTTP2))
		},
	}
}

// connInfo describes a connection the HTTP/2 server accepted.
func (l *h1Listener) connInfo(c net.Conn, proto exchange.Protocol) *clientConn {
	cc := &clientConn{src: addrPort(c.RemoteAddr()), local: c.LocalAddr(), proto: proto}
	if tc, ok := c.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		var st *serverTLS
		if s := l.state.Load(); s != nil {
			st = s.tls
		}
		cc.tls = newConnTLS(st, &cs)
	}
	return cc
}

func (l *h1Listener) serveH2() error {
	err := l.h2.Serve(l.h2conns)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (l *h1Listener) shutdownH2(ctx context.Context) error {
	err := l.h2.Shutdown(ctx)
	if err != nil {
		_ = l.h2.Close()
	}
	return err
}

// httpFront is the net/http Handler of the HTTP/2 and HTTP/3 front ends.
type httpFront struct {
	l     *h1Listener
	proto exchange.Protocol
	pool  sync.Pool // *httpState
}

// httpState is pooled per request state of an HTTP/2 or HTTP/3 request.
type httpState struct {
	req  fasthttp.Request
	resp fasthttp.Response
	r    proxyRequest
	log  *slog.Logger
	buf  []byte   // body copy buffer
	hdr  []byte   // response field scratch
	refs []hdrRef // response fields in hdr
}

func (f *httpFront) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	growStack()
	l := f.l
	st := l.state.Load()
	var cc clientConn
	if ci, ok := hr.Context().Value(connInfoKey{}).(*clientConn); ok {
		cc = *ci
	} else {
		ap, _ := netip.ParseAddrPort(hr.RemoteAddr)
		cc = clientConn{src: ap, proto: f.proto}
	}
	cc.request = hr.Context()
	s, _ := f.pool.Get().(*httpState)
	if s == nil {
		s = &httpState{log: l.gw.log}
	}
	defer func() {
		_ = s.resp.CloseBodyStream()
		s.r.finish()
		s.req.Reset()
		s.resp.Reset()
		f.pool.Put(s)
	}()
	req, resp := &s.req, &s.resp
	if f.l.limits.MaxHeaderSize > 0 && headerListSize(hr) > f.l.limits.MaxHeaderSize {
		writeLocal(resp, fasthttp.StatusRequestHeaderFieldsTooLarge, "request header too large")
		l.stats.shared().response(fasthttp.StatusRequestHeaderFieldsTooLarge, 0)
		s.writeHTTPResponse(w, resp, false)
		return
	}
	toFastRequest(req, hr, &s.r, s.log)
	resp.Header.SetNoDefaultContentType(true)
	l.serveRequest(st, &s.r, &cc, req, resp)
	if t := s.r.call.Tunnel; t != nil {
		// Only HTTP/1.1 clients upgrade; never reached.
		_ = t.Close()
		s.r.call.Tunnel = nil
	}
	s.writeHTTPResponse(w, resp, hr.Method == http.MethodHead)
}

// growStack grows the calling goroutine's stack to 16 KiB in one step.
//
// The HTTP/2 and HTTP/3 servers run every request on a new goroutine with
// a small stack, and the request path (fasthttp writing the upstream
// request above all) needs more: grown on demand, the stack was copied
// several times per request, with every frame on it adjusted (7% of the
// CPU under h2load). Growing it here, while it is shallow, is one cheap
// copy; 16 KiB stacks still come from the per-P stack cache.
//
//go:noinline
func growStack() byte {
	var pad [8 << 10]byte
	return stackSink(pad[:])
}

//go:noinline
func stackSink(b []byte) byte { return b[len(b)-1] }

// toFastRequest copies an http.Request into req. The body is not copied:
// it streams from hr.Body with its declared length, through r's trailer
// state when the client announced trailers.
func toFastRequest(req *fasthttp.Request, hr *http.Request, r *proxyRequest, log *slog.Logger) {
	h := &req.Header
	h.DisableNormalizing()
	h.SetMethod(hr.Method)
	h.SetRequestURI(hr.RequestURI)
	if hr.RequestURI == "" {
		h.SetRequestURI(hr.URL.RequestURI())
	}
	h.SetHost(hr.Host)
	for k, vs := range hr.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	var body io.Reader = hr.Body
	if hr.Body == nil || hr.Body == http.NoBody {
		body = nil
	}
	if body != nil && body != http.NoBody && hr.ContentLength < 0 && !bodyMethod(hr.Method) {
		// HTTP/3 hands a GET a body of unknown length even when the client
		// sent none. A client that sent none has ended the stream already,
		// so one probing read says which it is without waiting.
		body = probeBody(body)
	}
	switch {
	case body == nil || body == io.Reader(http.NoBody) || hr.ContentLength == 0:
		// No body: say so with Content-Length: 0 only where the method gives
		// a body meaning (RFC 9110 §8.6) or the client sent the field, so a
		// GET reaches the upstream without fields it never had.
		if bodyMethod(hr.Method) || len(hr.Header["Content-Length"]) > 0 {
			h.SetContentLength(0)
		}
	default:
		if hr.Trailer != nil {
			r.tr = newReqTrailers(r, hr, body, log)
			body = r.tr
		}
		req.SetBodyStream(body, int(hr.ContentLength))
	}
}

// probeBody reads one byte of a body of unknown length: http.NoBody when the
// body is empty, otherwise a reader that gives the byte back first.
func probeBody(body io.Reader) io.Reader {
	var one [1]byte
	n, err := body.Read(one[:])
	if n == 0 && err != nil {
		return http.NoBody
	}
	return io.MultiReader(bytes.NewReader(one[:n]), body)
}

// bodyTrailers is implemented by response body streams that end with
// trailers (an HTTP/2 upstream's); Trailer is valid after the body's EOF.
type bodyTrailers interface {
	Trailer() http.Header
}

// hdrRef locates one response field in httpState.hdr: the name is
// common[name] when name >= 0, else hdr[koff:voff]; the value is
// hdr[voff:vend].
type hdrRef struct {
	name             int
	koff, voff, vend int32
}

// writeHTTPResponse writes resp to w: status, headers, body (streamed and
// flushed when it is a stream) and trailers.
//
// net/http wants the header as an http.Header of strings. Converting each
// name and value would cost three allocations per field; instead every
// canonical name that is not a common one and every value go into one
// scratch buffer, converted to a single string that the map's entries
// slice, and the value slices share one backing array: two allocations
// per response whatever the number of fields. (The strings must outlive
// the handler: net/http encodes the header after ServeHTTP returns, so
// they cannot alias a pooled buffer.)
func (s *httpState) writeHTTPResponse(w http.ResponseWriter, resp *fasthttp.Response, head bool) {
	wh := w.Header()
	hdr, refs := s.hdr[:0], s.refs[:0]
	hasCT := false
	for k, v := range resp.Header.All() {
		if h1.EqualFold(k, "connection") || h1.EqualFold(k, "transfer-encoding") || h1.EqualFold(k, "content-length") {
			continue
		}
		r := hdrRef{name: commonResponseField(k), koff: int32(len(hdr))}
		if r.name < 0 {
			hdr = appendCanonicalKey(hdr, k)
		} else if r.name == ctField {
			hasCT = true
		}
		r.voff = int32(len(hdr))
		hdr = append(hdr, v...)
		r.vend = int32(len(hdr))
		refs = append(refs, r)
	}
	if ct := resp.Header.ContentType(); len(ct) > 0 && !hasCT {
		r := hdrRef{name: ctField, koff: int32(len(hdr)), voff: int32(len(hdr))}
		hdr = append(hdr, ct...)
		r.vend = int32(len(hdr))
		refs = append(refs, r)
		hasCT = true
	}
	stream := resp.BodyStream()
	cl := resp.Header.ContentLength()
	if stream == nil {
		cl = len(resp.Body())
	}
	if cl >= 0 && !resp.SkipBody {
		r := hdrRef{name: clField, koff: int32(len(hdr)), voff: int32(len(hdr))}
		hdr = strconv.AppendInt(hdr, int64(cl), 10)
		r.vend = int32(len(hdr))
		refs = append(refs, r)
	}
	all := string(hdr)
	vals := make([]string, len(refs))
	for i, r := range refs {
		name := ""
		if r.name >= 0 {
			name = commonResponseFields[r.name]
		} else {
			name = all[r.koff:r.voff]
		}
		vals[i] = all[r.voff:r.vend]
		if prev, ok := wh[name]; ok && len(prev) > 0 {
			wh[name] = append(prev, vals[i])
		} else {
			wh[name] = vals[i : i+1 : i+1]
		}
	}
	s.hdr, s.refs = hdr, refs
	if !hasCT {
		// Present but empty: net/http must not sniff and invent one.
		wh["Content-Type"] = nil
	}
	tr, hasTrailers := stream.(bodyTrailers)
	status := resp.StatusCode()
	if status == fasthttp.StatusSwitchingProtocols {
		status = fasthttp.StatusBadGateway
	}
	w.WriteHeader(status)
	if head || resp.SkipBody {
		return
	}
	if stream == nil {
		_, _ = w.Write(resp.Body())
		s.r.abortIfRefused()
		return
	}
	if cap(s.buf) < 32<<10 {
		s.buf = make([]byte, 32<<10)
	}
	buf := s.buf[:cap(s.buf)]
	rc := http.NewResponseController(w)
	for {
		n, err := stream.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// The upstream body broke: abort the stream so the client
				// does not take a truncated body as complete.
				panic(http.ErrAbortHandler)
			}
			break
		}
	}
	s.r.abortIfRefused()
	if hasTrailers {
		s.writeTrailers(wh, tr.Trailer())
	}
}

// writeTrailers announces the response trailers t (complete: the body has
// ended) as net/http's TrailerPrefix fields, which the HTTP/2 and HTTP/3
// servers send after the body. When stages asked for trailers, they see
// and may change them first, in reverse chain order; a stage that fails
// (closed) or answers locally there resets the stream: the status and
// body are gone already.
func (s *httpState) writeTrailers(wh, t http.Header) {
	r := &s.r
	if r.doneLater == nil || len(t) == 0 {
		for k, vs := range t {
			for _, v := range vs {
				wh.Add(http.TrailerPrefix+k, v)
			}
		}
		return
	}
	r.lockTrailers()
	x := &r.x
	x.Response.Trailer.Reset()
	for k, vs := range t {
		for _, v := range vs {
			x.Response.Trailer.Add(k, v)
		}
	}
	x.Response.TrailerReceived = true
	if err := runResponseTrailers(x, s.log); err != nil {
		r.unlockTrailers()
		s.log.Warn("response trailers refused; stream reset", "err", err)
		panic(http.ErrAbortHandler)
	}
	x.Response.Trailer.Range(func(k, v []byte) bool {
		wh.Add(http.TrailerPrefix+string(k), string(v))
		return true
	})
	r.unlockTrailers()
}

// reqTrailers is the body of an HTTP/2 or HTTP/3 request whose client
// announced trailers (net/http's HTTP/2 server keeps only announced ones).
// It reads the client's body and, at its end, takes the trailers into the
// exchange, hands them to the stages that asked for them (see
// exchange.TrailerStage) and leaves what they let through in out, the
// upstream request's Trailer map (the upstream's HTTP/2 client sends it
// after the body; HTTP/1.1 upstreams get no trailers).
//
// The upstream reads the body on its own goroutine, possibly while the
// handler's goroutine works on the response: mu keeps them off the
// exchange at the same time. The handler holds it while it uses the
// exchange after forwarding (proxyRequest.lockTrailers), and clears r when
// it is done with the exchange; trailers that end a body after that are
// forwarded as received.
type reqTrailers struct {
	mu     sync.Mutex
	r      *proxyRequest // nil once the handler is done with the exchange
	hr     *http.Request // hr.Trailer holds the client's trailers once the body ended
	body   io.Reader     // the client's body, or the chain's buffered copy
	out    http.Header
	log    *slog.Logger
	ended  bool  // the body ended: the trailers are in the exchange
	failed error // a stage refused the trailers
	// answered: the refusal was answered before the response started
	answered bool
}

// errTrailersRefused ends the upstream request's body when a stage refused
// the request trailers, so that the upstream does not take it as complete.
var errTrailersRefused = errors.New("request trailers refused by a filter")

func newReqTrailers(r *proxyRequest, hr *http.Request, body io.Reader, log *slog.Logger) *reqTrailers {
	t := &reqTrailers{r: r, hr: hr, body: body, out: make(http.Header, len(hr.Trailer)), log: log}
	for k := range hr.Trailer {
		t.out[k] = nil // announced to the upstream; values once the body ended
	}
	return t
}

// Trailer returns the trailers to send upstream after the body: announced
// keys at first, the final values once Read returned io.EOF.
func (t *reqTrailers) Trailer() http.Header { return t.out }

func (t *reqTrailers) Read(p []byte) (int, error) {
	n, err := t.body.Read(p)
	if err == io.EOF {
		if ferr := t.end(); ferr != nil {
			return n, ferr
		}
	}
	return n, err
}

// Close closes the client's body (fasthttp closes a request's body stream
// when it resets the request).
func (t *reqTrailers) Close() error { return t.hr.Body.Close() }

// end runs when the body has been read to its end.
func (t *reqTrailers) end() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		if t.failed != nil {
			return errTrailersRefused
		}
		return nil
	}
	t.ended = true
	if t.r == nil {
		maps.Copy(t.out, t.hr.Trailer)
		return nil
	}
	x := &t.r.x
	rq := &x.Request
	rq.Trailer.Reset()
	for k, vs := range t.hr.Trailer {
		for _, v := range vs {
			rq.Trailer.Add(k, v)
		}
	}
	rq.TrailerReceived = rq.Trailer.Len() > 0
	if rq.TrailerReceived {
		// No stage has asked yet when the front end buffers the body for
		// the chain: the stages then see the trailers when they see the
		// request, and beforeForward sends on what they let through.
		if err := runRequestTrailers(x, t.log); err != nil {
			t.failed = err
			t.log.Warn("request trailers refused", "err", err)
			return errTrailersRefused
		}
	}
	t.setOut(rq)
	return nil
}

// setOut makes out the request's trailers (values only: the keys were
// announced with the request's header).
func (t *reqTrailers) setOut(rq *exchange.Request) {
	for k := range t.out {
		t.out[k] = nil
	}
	rq.Trailer.Range(func(k, v []byte) bool {
		key := http.CanonicalHeaderKey(string(k))
		t.out[key] = append(t.out[key], string(v))
		return true
	})
}

// beforeForward readies the upstream request body on the handler's
// goroutine, before the upstream reads it: a body the front end buffered
// for the chain (read to its end, trailers included, before the stages
// ran) is replayed, followed by the trailers as the stages left them.
func (t *reqTrailers) beforeForward(req *fasthttp.Request, x *exchange.Exchange) {
	if !t.ended || !x.Request.BodyBuffered {
		return
	}
	t.setOut(&x.Request)
	t.body = bytes.NewReader(x.Request.Body)
	req.SetBodyStream(t, len(x.Request.Body))
}

// commonResponseFields are response field names interned so that copying
// them allocates nothing; index ctField and clField are looked up by the
// adapter itself.
var commonResponseFields = [...]string{
	"Content-Type", "Content-Length", "Date", "Server", "Cache-Control", "Etag",
	"Last-Modified", "Expires", "Vary", "Location", "Set-Cookie", "Content-Encoding",
	"Alt-Svc", "Via", "Accept-Ranges", "Age", "Access-Control-Allow-Origin",
	"X-Content-Type-Options", "Strict-Transport-Security", "Content-Disposition",
	"Content-Language", "Content-Range", "Link", "Pragma", "Retry-After",
	"Www-Authenticate", "X-Frame-Options", "X-Request-Id", "Grpc-Status", "Grpc-Message",
}

const (
	ctField = 0
	clField = 1
)

// commonResponseField returns the index of k (any case) in
// commonResponseFields, or -1.
func commonResponseField(k []byte) int {
	for i, n := range &commonResponseFields {
		if len(n) == len(k) && h1.EqualFold(k, n) {
			return i
		}
	}
	return -1
}

// appendCanonicalKey appends k in net/http's canonical form: upper case at
// the start and after '-', lower case elsewhere; a name with bytes outside
// the token set is appended unchanged, as textproto does.
func appendCanonicalKey(dst, k []byte) []byte {
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return append(dst, k...)
		}
	}
	upper := true
	for _, c := range k {
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
		upper = c == '-'
	}
	return dst
}

// bodyMethod reports methods whose requests carry meaningful content.
func bodyMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete, http.MethodTrace, http.MethodConnect:
		return false
	}
	return true
}

// headerListSize is the request's header list size as RFC 9113 §6.5.2
// counts it: name and value lengths plus 32 per field, pseudo-headers
// included.
func headerListSize(hr *http.Request) int64 {
	n := int64(len(hr.Method) + len(":method") + len(hr.Host) + len(":authority") + len(hr.RequestURI) + len(":path") + len(":scheme") + 5 + 4*32)
	for k, vs := range hr.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 32)
		}
	}
	return n
}
