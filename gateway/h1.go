package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/balancer"
	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/upstream"
)

// prefetchBody is how much of a request body the front end reads before
// calling the handler; larger bodies stream to the upstream.
const prefetchBody = 64 << 10

// h1Listener serves HTTP/1.1 on one address with fasthttp.
type h1Listener struct {
	name   string
	addr   string
	limits conf.Listener
	ln     net.Listener
	srv    *fasthttp.Server
	gw     *Gateway
	state  atomic.Pointer[listenerState]
	reqs   sync.Pool // *h1Request
}

// h1Request is the per-request state of the HTTP/1.1 path, pooled so that a
// proxied request allocates nothing in steady state.
type h1Request struct {
	x    exchange.Exchange
	run  chain.Run
	call upstream.Call
	buf  []byte
	hop  []byte
}

func newH1Listener(lc *conf.Listener, g *Gateway) (*h1Listener, error) {
	ln, err := net.Listen("tcp", lc.Address)
	if err != nil {
		return nil, err
	}
	l := &h1Listener{name: lc.Name, addr: lc.Address, limits: *lc, ln: ln, gw: g}
	l.reqs.New = func() any { return &h1Request{} }
	l.srv = &fasthttp.Server{
		Handler:                       l.handle,
		ErrorHandler:                  l.handleParseError,
		Name:                          "",
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		StreamRequestBody:             true,
		MaxRequestBodySize:            prefetchBody,
		ReadBufferSize:                int(lc.MaxHeaderSize),
		ReadTimeout:                   lc.ReadHeaderTimeout,
		IdleTimeout:                   lc.IdleTimeout,
		CloseOnShutdown:               true,
		SecureErrorLogMessage:         true,
		Logger:                        discardLogger{},
		DisableHeaderNamesNormalizing: false,
	}
	return l, nil
}

func (l *h1Listener) limitsDiffer(lc *conf.Listener) bool {
	return l.limits.ReadHeaderTimeout != lc.ReadHeaderTimeout || l.limits.IdleTimeout != lc.IdleTimeout ||
		l.limits.MaxHeaderSize != lc.MaxHeaderSize
}

func (l *h1Listener) serve() error {
	err := l.srv.Serve(l.ln)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func (l *h1Listener) shutdown(ctx context.Context) error {
	return l.srv.ShutdownWithContext(ctx)
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// handleParseError answers requests fasthttp could not parse.
func (l *h1Listener) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	status := fasthttp.StatusBadRequest
	switch {
	case errors.As(err, &small):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	}
	writeLocal(ctx, status, "")
	ctx.SetConnectionClose()
}

// handle is the HTTP/1.1 request path: allow list, chain, balancer, proxy.
func (l *h1Listener) handle(ctx *fasthttp.RequestCtx) {
	st := l.state.Load()
	src := remoteAddrPort(ctx)
	if !st.allowed(src.Addr()) {
		writeLocal(ctx, fasthttp.StatusForbidden, "source address not allowed")
		return
	}
	req := &ctx.Request
	cl := req.Header.ContentLength()
	if st.maxBody > 0 && int64(cl) > st.maxBody {
		writeLocal(ctx, fasthttp.StatusRequestEntityTooLarge, "request body too large")
		ctx.SetConnectionClose()
		return
	}
	if cl > prefetchBody || cl == -1 {
		// The read-header timeout must not cut off a long upload; the
		// upstream write deadline bounds it instead.
		_ = ctx.Conn().SetReadDeadline(time.Time{})
	}

	// fasthttp's RequestCtx is a context.Context, but its Done means "server
	// shutting down" and races with Shutdown; requests are bounded by
	// deadlines instead.
	bg := context.Background()
	r := l.reqs.Get().(*h1Request)
	defer l.reqs.Put(r)
	x := &r.x
	x.Reset()
	x.Source = src
	x.Listener = st.name
	x.RequestID = l.gw.requestIDs.Add(1)
	r.call = upstream.Call{Hint: balancer.Hint{Key: balancer.HashAddr(src.Addr())}}
	if cl == -1 {
		// A chunked body has no declared size: the limit applies while it
		// streams to the upstream.
		r.call.MaxBody = st.maxBody
	}

	clientClose := req.Header.ConnectionClose()
	ch := st.chain
	if ch.HasStages() {
		fillExchange(x, ctx)
		if ch.OnRequest(bg, x, &r.run) == chain.Stop {
			ch.OnResponse(bg, x, &r.run)
			writeExchangeResponse(ctx, x)
			ch.Done(x, &r.run)
			return
		}
		if x.Request.Modified() {
			applyRequest(req, x)
		}
	}

	up := st.defaultUpstream
	if x.Upstream != "" {
		up = st.upstreams[x.Upstream]
	}
	if up == nil {
		status, msg := fasthttp.StatusNotFound, "no route"
		if x.Upstream != "" {
			status, msg = fasthttp.StatusServiceUnavailable, "unknown upstream"
		}
		l.finishLocal(ctx, ch, x, &r.run, status, msg)
		return
	}

	r.buf, r.hop = prepareRequest(&req.Header, src.Addr(), r.buf, r.hop)
	err := up.Forward(bg, req, &ctx.Response, &r.call)
	if clientClose {
		ctx.SetConnectionClose()
	}
	if err != nil {
		status := fasthttp.StatusBadGateway
		var ue *upstream.Error
		if errors.As(err, &ue) {
			status = ue.Code
		}
		if status == fasthttp.StatusRequestEntityTooLarge {
			// The rest of the body is unread: the connection can't be reused.
			ctx.SetConnectionClose()
		}
		reason := "upstream failure"
		if ue != nil {
			reason = ue.Reason
		}
		l.finishLocal(ctx, ch, x, &r.run, status, reason)
		return
	}
	r.hop = stripResponseHopHeaders(&ctx.Response.Header, r.hop)
	if ch.HasStages() {
		x.Response.Status = ctx.Response.StatusCode()
		fillResponseHeader(&x.Response.Header, &ctx.Response.Header)
		ch.OnResponse(bg, x, &r.run)
		if x.IsLocal() {
			// A stage replaced the response: drop the upstream body.
			_ = ctx.Response.CloseBodyStream()
			writeExchangeResponse(ctx, x)
		} else if x.Response.Header.Modified() || x.Response.Status != ctx.Response.StatusCode() {
			applyResponse(&ctx.Response, x)
		}
		ch.Done(x, &r.run)
	}
}

// finishLocal answers with a gateway-generated error that still passes
// through the response stages.
func (l *h1Listener) finishLocal(ctx *fasthttp.RequestCtx, ch *chain.Chain, x *exchange.Exchange, run *chain.Run, status int, reason string) {
	if !ch.HasStages() {
		writeLocal(ctx, status, reason)
		return
	}
	x.SendLocal(status, nil)
	x.Response.Header.Set("x-wasmgate-reason", reason)
	ch.OnResponse(context.Background(), x, run)
	writeExchangeResponse(ctx, x)
	ch.Done(x, run)
}

// writeLocal writes a small gateway-generated response.
func writeLocal(ctx *fasthttp.RequestCtx, status int, reason string) {
	resp := &ctx.Response
	_ = resp.CloseBodyStream()
	resp.Reset()
	resp.Header.SetNoDefaultContentType(true)
	resp.SetStatusCode(status)
	resp.Header.SetContentType("text/plain; charset=utf-8")
	if reason != "" {
		resp.Header.Set("X-Wasmgate-Reason", reason)
	}
	var num [3]byte
	resp.AppendBody(strconv.AppendInt(num[:0], int64(status), 10))
	resp.AppendBodyString(" ")
	resp.AppendBodyString(fasthttp.StatusMessage(status))
	resp.AppendBodyString("\n")
}

func remoteAddrPort(ctx *fasthttp.RequestCtx) netip.AddrPort {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(ta.Port))
	}
	return netip.AddrPort{}
}
