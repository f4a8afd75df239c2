package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// h3Server serves HTTP/3 on the UDP side of a listener's port with
// quic-go, through the same handler as HTTP/2.
type h3Server struct {
	pc  net.PacketConn
	srv *http3.Server
}

// newH3Server binds UDP on the host and port the listener's TCP socket
// has (so port 0 gets the same port for both).
func newH3Server(l *h1Listener, lc *conf.Listener) (*h3Server, error) {
	ta, ok := l.ln.Addr().(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("http3: listener address %s is not TCP", l.ln.Addr())
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: ta.IP, Port: ta.Port, Zone: ta.Zone})
	if err != nil {
		return nil, fmt.Errorf("http3: %w", err)
	}
	h := &h3Server{pc: pc}
	h.srv = &http3.Server{
		Handler:        &httpFront{l: l, proto: exchange.HTTP3},
		TLSConfig:      http3.ConfigureTLSConfig(l.tlsConfig),
		MaxHeaderBytes: int(lc.MaxHeaderSize),
		IdleTimeout:    lc.IdleTimeout,
		QUICConfig: &quic.Config{
			MaxIncomingStreams:             int64(lc.HTTP2MaxConcurrentStreams),
			InitialStreamReceiveWindow:     uint64(lc.HTTP2StreamWindow),
			InitialConnectionReceiveWindow: uint64(lc.HTTP2ConnectionWindow),
			MaxStreamReceiveWindow:         uint64(max(lc.HTTP2StreamWindow, 6<<20)),
			MaxConnectionReceiveWindow:     uint64(max(lc.HTTP2ConnectionWindow, 15<<20)),
		},
		Logger: slog.New(slog.DiscardHandler),
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

func (h *h3Server) port() int { return h.pc.LocalAddr().(*net.UDPAddr).Port }

func (h *h3Server) serve() error {
	err := h.srv.Serve(h.pc)
	if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) || errors.Is(err, quic.ErrServerClosed) {
		return nil
	}
	return err
}

func (h *h3Server) shutdown(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	if err != nil {
		_ = h.srv.Close()
	}
	_ = h.pc.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
