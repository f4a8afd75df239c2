package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// quicFront is the UDP side of a listener's port: the socket, the QUIC
// listener on it and the loop that accepts its connections. QUIC tells its
// connections apart by connection ID inside one transport, so unlike the
// TCP socket it cannot be duplicated for a rebuilt listener. A reload hands
// the front itself to the new listener's HTTP/3 server instead: from then
// on new connections go to that server, with its TLS and QUIC settings,
// while the old server drains the ones it has.
type quicFront struct {
	pc   net.PacketConn
	tr   *quic.Transport
	ln   *quic.EarlyListener
	cur  atomic.Pointer[h3Server] // the server new connections go to
	done chan struct{}            // closed when the accept loop ends
	// refs counts the servers that use the front; the last to let go of
	// it closes it.
	refs atomic.Int32
}

// newQUICFront binds UDP on host:port and listens for QUIC there.
func newQUICFront(host net.IP, port int, zone string) (*quicFront, error) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: host, Port: port, Zone: zone})
	if err != nil {
		return nil, fmt.Errorf("http3: %w", err)
	}
	f := &quicFront{pc: pc, tr: &quic.Transport{Conn: pc}, done: make(chan struct{})}
	f.refs.Store(1)
	tc := http3.ConfigureTLSConfig(&tls.Config{GetConfigForClient: f.tlsConfig})
	f.ln, err = f.tr.ListenEarly(tc, &quic.Config{GetConfigForClient: f.quicConfig})
	if err != nil {
		_ = f.tr.Close()
		_ = pc.Close()
		return nil, fmt.Errorf("http3: %w", err)
	}
	go f.accept()
	return f, nil
}

// accept hands each new connection to the current server until the
// listener is closed. Handshakes fail while there is none (tlsConfig), so
// none is accepted before the first server is activated.
func (f *quicFront) accept() {
	defer close(f.done)
	for {
		conn, err := f.ln.Accept(context.Background())
		if err != nil {
			return
		}
		go f.serveConn(conn)
	}
}

// serveConn serves conn on the current server. A server that a reload has
// just replaced refuses it (http.ErrServerClosed) if it began to shut down
// first; the connection then goes to the one that replaced it.
func (f *quicFront) serveConn(conn *quic.Conn) {
	// Not nil: a connection is accepted only after its handshake took the
	// current server's TLS configuration, and a front never loses its
	// current server.
	h := f.cur.Load()
	// Counted with the listener that took the connection; its bytes when
	// it ends (QUIC counts them, not a wrapped socket).
	stats := h.l.stats.shared()
	stats.accepted.Add(1)
	defer func() {
		cs := conn.ConnectionStats()
		stats.bytesIn.Add(cs.BytesReceived)
		stats.bytesOut.Add(cs.BytesSent)
		stats.closed.Add(1)
	}()
	for {
		err := h.srv.ServeQUICConn(conn)
		next := f.cur.Load()
		if !errors.Is(err, http.ErrServerClosed) || next == h {
			break
		}
		h = next
	}
	_ = conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
}

// tlsConfig returns the current server's TLS configuration (that of its
// listener's config, so certificates follow reloads).
func (f *quicFront) tlsConfig(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	h := f.cur.Load()
	if h == nil {
		return nil, errors.New("http3: no server serves this socket yet")
	}
	return h.l.configForClient(hello)
}

// quicConfig returns the QUIC settings of the current server.
func (f *quicFront) quicConfig(*quic.ClientInfo) (*quic.Config, error) {
	h := f.cur.Load()
	if h == nil {
		return nil, errors.New("http3: no server serves this socket yet")
	}
	return h.quic, nil
}

func (f *quicFront) port() int { return f.pc.LocalAddr().(*net.UDPAddr).Port }

// release drops one server's hold on the front and closes it with the
// last one.
func (f *quicFront) release() {
	if f.refs.Add(-1) != 0 {
		return
	}
	_ = f.ln.Close()
	<-f.done
	_ = f.tr.Close()
	_ = f.pc.Close()
}

// h3Server serves HTTP/3 for one listener with quic-go, through the same
// handler as HTTP/2. It takes the connections of a front that it may share
// with the listener it replaced.
type h3Server struct {
	l     *h1Listener
	front *quicFront
	srv   *http3.Server
	quic  *quic.Config // the settings of the connections it accepts
}

// newH3Server returns an HTTP/3 server for l. It takes a hold on front
// when one is given; otherwise it binds UDP on the host and port of l's
// TCP socket (so port 0 gets the same port for both).
func newH3Server(l *h1Listener, lc *conf.Listener, front *quicFront) (*h3Server, error) {
	if front != nil {
		front.refs.Add(1)
	} else {
		ta, ok := l.ln.Addr().(*net.TCPAddr)
		if !ok {
			return nil, fmt.Errorf("http3: listener address %s is not TCP", l.ln.Addr())
		}
		var err error
		if front, err = newQUICFront(ta.IP, ta.Port, ta.Zone); err != nil {
			return nil, err
		}
	}
	h := &h3Server{
		l:     l,
		front: front,
		quic: &quic.Config{
			MaxIncomingStreams:             int64(lc.HTTP2MaxConcurrentStreams),
			InitialStreamReceiveWindow:     uint64(lc.HTTP2StreamWindow),
			InitialConnectionReceiveWindow: uint64(lc.HTTP2ConnectionWindow),
			MaxStreamReceiveWindow:         uint64(max(lc.HTTP2StreamWindow, 6<<20)),
			MaxConnectionReceiveWindow:     uint64(max(lc.HTTP2ConnectionWindow, 15<<20)),
		},
	}
	h.srv = &http3.Server{
		Handler:        &httpFront{l: l, proto: exchange.HTTP3},
		MaxHeaderBytes: int(lc.MaxHeaderSize),
		IdleTimeout:    lc.IdleTimeout,
		Logger:         slog.New(slog.DiscardHandler),
		ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
			cs := c.ConnectionState().TLS
			cc := &clientConn{src: addrPort(c.RemoteAddr()), local: c.LocalAddr(), proto: exchange.HTTP3}
			var st *serverTLS
			if s := l.state.Load(); s != nil {
				st = s.tls
			}
			cc.tls = newConnTLS(st, &cs)
			return context.WithValue(ctx, connInfoKey{}, cc)
		},
	}
	return h, nil
}

func (h *h3Server) port() int { return h.front.port() }

// activate makes h the server that new connections go to. A reload calls
// it once the new config is in place, not before: a reload that fails must
// leave the old server in charge.
func (h *h3Server) activate() { h.front.cur.Store(h) }

// shutdown lets the connections h serves finish their requests (HTTP/3
// GOAWAY) until ctx ends, then lets go of the front.
func (h *h3Server) shutdown(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	if err != nil {
		_ = h.srv.Close()
	}
	h.front.release()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// release lets go of the front of a server that never served.
func (h *h3Server) release() { h.front.release() }
