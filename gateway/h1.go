package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// prefetchBody is how much of a request body the front end reads before
// calling the handler; larger bodies stream to the upstream.
const prefetchBody = 64 << 10

// h1Listener is one configured listener. Its TCP socket serves HTTP/1.1
// with fasthttp; when the listener terminates TLS or accepts h2c, an accept
// loop (listen.go) handshakes each connection and hands it to fasthttp or
// to the HTTP/2 server (h2.go). HTTP/3 (h3.go) serves the UDP side of the
// same port.
type h1Listener struct {
	name   string
	addr   string
	limits conf.Listener
	ln     net.Listener
	srv    *fasthttp.Server
	gw     *Gateway
	state  atomic.Pointer[listenerState]
	reqs   sync.Pool // *proxyRequest

	// dispatch is set when the accept loop runs: TLS, or h2c.
	dispatch  bool
	tlsConfig *tls.Config // nil on plain listeners
	h1conns   *connQueue  // what fasthttp serves when dispatching
	h2        *http.Server
	h2conns   *connQueue
	h3        *h3Server
	altSvc    []byte // Alt-Svc value advertising HTTP/3, or nil
	loops     sync.WaitGroup

	// stats counts the listener's connections, bytes and responses
	// (metrics.go); shared with the listener that replaces it on reload.
	stats *listenerStats

	// plain runs the plain path's event loops (plain_linux.go) on plain
	// HTTP/1.1 sockets; fasthttp then serves the connections they hand
	// over, through h1conns. nil when fasthttp accepts from the socket.
	plain *plainServer
}

// tlsConn is a client TLS connection handed to fasthttp, with the facts
// the request path needs.
type tlsConn struct {
	*tls.Conn
	ct *connTLS
}

// connTLS returns the connection's TLS facts.
func (c *tlsConn) connTLS() *connTLS { return c.ct }

func newH1Listener(lc *conf.Listener, g *Gateway) (*h1Listener, error) {
	ln, err := net.Listen("tcp", lc.Address)
	if err != nil {
		return nil, err
	}
	return newH1ListenerOn(lc, g, ln, nil)
}

// newH1ListenerOn builds a listener on a bound socket, which it owns from
// then on (it is closed on failure too). With HTTP/3 it serves on front
// when one is given (the one of the listener it replaces).
func newH1ListenerOn(lc *conf.Listener, g *Gateway, ln net.Listener, front *quicFront) (*h1Listener, error) {
	l := &h1Listener{name: lc.Name, addr: lc.Address, limits: *lc, ln: ln, gw: g, stats: g.statsFor(lc.Name)}
	l.reqs.New = func() any { return &proxyRequest{} }
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
	if err := l.setupProtocols(lc, front); err != nil {
		_ = ln.Close()
		return nil, err
	}
	if !l.dispatch && plainSupported && !lc.PlainPathOff {
		ps, err := newPlainServer(l)
		if err != nil {
			l.release()
			return nil, err
		}
		l.plain = ps
		l.h1conns = newConnQueue(ln.Addr())
	}
	return l, nil
}

// rebuild returns a listener for lc on a duplicate of l's socket, for a
// reload that changes what only a new server can (see needsRebuild). Both
// accept from the one socket until l shuts down, so no connection waits on
// a closed port and none is refused. When both serve HTTP/3, they share
// l's QUIC front the same way.
func (l *h1Listener) rebuild(lc *conf.Listener) (*h1Listener, error) {
	ln, err := dupListener(l.ln)
	if err != nil {
		return nil, err
	}
	var front *quicFront
	if l.h3 != nil && lc.HTTP3 {
		front = l.h3.front
	}
	return newH1ListenerOn(lc, l.gw, ln, front)
}

// dupListener returns a second listener on ln's socket.
func dupListener(ln net.Listener) (net.Listener, error) {
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("listener on %s cannot be shared", ln.Addr())
	}
	f, err := fl.File()
	if err != nil {
		return nil, fmt.Errorf("duplicate listener on %s: %w", ln.Addr(), err)
	}
	defer f.Close()
	dup, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("duplicate listener on %s: %w", ln.Addr(), err)
	}
	return dup, nil
}

// release closes what a listener that never served holds: its socket, the
// plain path's poll sets and the HTTP/3 socket.
func (l *h1Listener) release() {
	_ = l.ln.Close()
	if l.plain != nil {
		l.plain.closeLoops()
	}
	if l.h3 != nil {
		l.h3.release()
	}
}

// needsRebuild reports whether lc changes what l's servers were built with
// (limits, protocols, the plain path, the name its logs and state lookups
// use), so that a reload must put a new listener on l's socket instead of
// only swapping l's state.
func (l *h1Listener) needsRebuild(lc *conf.Listener) bool {
	a, b := &l.limits, lc
	return a.Name != b.Name ||
		a.ReadHeaderTimeout != b.ReadHeaderTimeout || a.IdleTimeout != b.IdleTimeout || a.MaxHeaderSize != b.MaxHeaderSize ||
		a.Protocol != b.Protocol || a.HTTP2 != b.HTTP2 || a.HTTP3 != b.HTTP3 || a.QUIC != b.QUIC ||
		a.HTTP2MaxConcurrentStreams != b.HTTP2MaxConcurrentStreams ||
		a.HTTP2StreamWindow != b.HTTP2StreamWindow || a.HTTP2ConnectionWindow != b.HTTP2ConnectionWindow ||
		a.PlainPathOff != b.PlainPathOff
}

func (l *h1Listener) serve() error {
	switch {
	case l.plain != nil:
		l.goServe(func() error { return l.serveH1(l.h1conns) }, "http/1.1")
		l.plain.serve()
		return nil
	case !l.dispatch:
		return l.serveH1(lfGuardListener{l.countedListener()})
	}
	return l.serveDispatch()
}

// countedListener is l's socket with its connections counted in the
// listener's metrics (the plain path counts its own).
func (l *h1Listener) countedListener() net.Listener {
	return countingListener{l.ln, l.stats.shared()}
}

// goServe runs serve on a goroutine counted in l.loops and logs its failure.
func (l *h1Listener) goServe(serve func() error, protocol string) {
	l.loops.Add(1)
	go func() {
		defer l.loops.Done()
		if err := serve(); err != nil {
			l.gw.log.Error("server stopped", "listener", l.name, "protocol", protocol, "err", err)
		}
	}()
}

// serveH1 serves HTTP/1.1 with fasthttp on ln until ln is closed.
func (l *h1Listener) serveH1(ln net.Listener) error { return unlessClosed(l.srv.Serve(ln)) }

// shutdownH1 drains the fasthttp server. Its sockets are closed by then,
// and fasthttp closing them again is not a failure.
func (l *h1Listener) shutdownH1(ctx context.Context) error {
	return unlessClosed(l.srv.ShutdownWithContext(ctx))
}

// unlessClosed drops the error of a closed socket: closing it is how a
// server is stopped.
func unlessClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (l *h1Listener) shutdown(ctx context.Context) error {
	if l.plain != nil {
		_ = l.ln.Close()
		perr := l.plain.shutdown(ctx)
		_ = l.h1conns.Close()
		if err := l.shutdownH1(ctx); err != nil {
			return err
		}
		return perr
	}
	if !l.dispatch {
		// Close the socket ourselves too: fasthttp's Shutdown only closes
		// listeners a running Serve registered, and Serve may not have
		// started yet.
		_ = l.ln.Close()
		return l.shutdownH1(ctx)
	}
	return l.shutdownDispatch(ctx)
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// handleParseError answers requests fasthttp could not parse. The request
// head was not read to its end, so the connection must close; closing a
// socket with unread input makes the kernel send a reset, and a client that
// is still writing would lose the answer. So the answer is written here,
// the write side shut, and what the client still sends drained for a
// moment (a lingering close, as nginx does) before fasthttp closes.
func (l *h1Listener) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	status := fasthttp.StatusBadRequest
	switch {
	case errors.As(err, &small):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	}
	writeLocal(&ctx.Response, status, "")
	ctx.SetConnectionClose()
	l.stats.shared().response(status, time.Since(ctx.Time()))
	c := ctx.Conn()
	hw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, werr := ctx.Response.WriteTo(c); werr != nil {
		return
	}
	_ = hw.CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, c, lingerMaxBytes)
	// fasthttp writes its copy of the response to the half-closed socket,
	// fails quietly, and closes.
}

// Lingering close bounds: how long and how much to drain after an error.
const (
	lingerTimeout  = time.Second
	lingerMaxBytes = 1 << 20
)

// handle is the HTTP/1.1 front end: fasthttp's own request and response go
// through the protocol-neutral path without copies.
func (l *h1Listener) handle(ctx *fasthttp.RequestCtx) {
	st := l.state.Load()
	req := &ctx.Request
	if cl := req.Header.ContentLength(); cl > prefetchBody || cl == -1 {
		// The read-header timeout must not cut off a long upload; the
		// upstream write deadline bounds it instead.
		_ = ctx.Conn().SetReadDeadline(time.Time{})
	}
	cc := clientConn{src: addrPort(ctx.RemoteAddr()), local: ctx.LocalAddr(), proto: exchange.HTTP11}
	if tc, ok := ctx.Conn().(interface{ connTLS() *connTLS }); ok {
		cc.tls = tc.connTLS()
	}
	r := l.reqs.Get().(*proxyRequest)
	out := l.serveRequest(st, r, &cc, req, &ctx.Response)
	if out&outClose != 0 {
		ctx.SetConnectionClose()
	}
	if out&outUpgrade != 0 {
		tun := r.call.Tunnel
		r.call.Tunnel = nil
		// fasthttp keeps Connection out of the parsed header fields.
		ctx.Response.Header.Set("Connection", "Upgrade")
		ctx.Hijack(func(c net.Conn) { splice(c, tun) })
	}
	l.reqs.Put(r)
}
