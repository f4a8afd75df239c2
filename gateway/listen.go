package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/wasmgate/wasmgate/conf"
)

// This file is the accept loop of listeners that do more than plain
// HTTP/1.1: it completes the TLS handshake (or peeks for the h2c preface)
// on its own goroutine per connection, then hands the connection to
// fasthttp (HTTP/1.1) or to the HTTP/2 server through a connQueue. Plain
// listeners without h2c skip it: fasthttp accepts from the socket itself.

// h2Preface is what an HTTP/2 client with prior knowledge sends first.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// setupProtocols prepares TLS, HTTP/2 and HTTP/3 for lc; HTTP/3 on front
// when it is not nil.
func (l *h1Listener) setupProtocols(lc *conf.Listener, front *quicFront) error {
	if lc.Protocol == "https" {
		l.dispatch = true
		l.tlsConfig = &tls.Config{GetConfigForClient: l.configForClient}
	}
	if lc.HTTP2 {
		l.dispatch = true
		l.h2conns = newConnQueue(l.ln.Addr())
		l.h2 = newH2Server(l, lc)
	}
	if l.dispatch {
		l.h1conns = newConnQueue(l.ln.Addr())
	}
	if lc.HTTP3 {
		h3, err := newH3Server(l, lc, front)
		if err != nil {
			return err
		}
		l.h3 = h3
		if lc.QUIC != conf.QUICOff {
			l.altSvc = fmt.Appendf(nil, `h3=":%d"; ma=86400`, h3.port())
		}
	}
	return nil
}

// configForClient returns the TLS configuration of the current config, so
// that a reload swaps certificates without touching the socket.
func (l *h1Listener) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	st := l.state.Load()
	if st == nil || st.tls == nil {
		return nil, errors.New("listener has no TLS configuration")
	}
	return st.tls.config, nil
}

func (l *h1Listener) serveDispatch() error {
	l.goServe(func() error { return l.serveH1(l.h1conns) }, "http/1.1")
	if l.h2 != nil {
		l.goServe(l.serveH2, "h2")
	}
	ln := l.countedListener()
	var err error
	for delay := time.Duration(0); ; {
		c, aerr := ln.Accept()
		if aerr != nil {
			var ne net.Error
			if errors.As(aerr, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: back off.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			if !errors.Is(aerr, net.ErrClosed) {
				err = aerr
			}
			break
		}
		delay = 0
		l.loops.Add(1)
		go l.route(c)
	}
	l.loops.Wait()
	return err
}

// route completes the TLS handshake or the h2c check for c and queues it
// for the server that speaks its protocol.
func (l *h1Listener) route(c net.Conn) {
	defer l.loops.Done()
	timeout := l.limits.ReadHeaderTimeout
	_ = c.SetDeadline(time.Now().Add(timeout))
	if l.tlsConfig != nil {
		// Below TLS, so that HTTP/2 writes coalesce into fewer records'
		// system calls; a passthrough unless the connection speaks h2.
		bc := newBatchConn(c)
		tc := tls.Server(bc, l.tlsConfig)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			_ = c.Close()
			return
		}
		_ = c.SetDeadline(time.Time{})
		cs := tc.ConnectionState()
		if cs.NegotiatedProtocol == "h2" && l.h2 != nil {
			bc.setAsync()
			l.h2conns.push(tc)
			return
		}
		var st *serverTLS
		if s := l.state.Load(); s != nil {
			st = s.tls
		}
		l.h1conns.push(newLFGuard(&tlsConn{Conn: tc, ct: newConnTLS(st, &cs)}))
		return
	}
	// Plain listener with h2c: read until the bytes stop matching the
	// HTTP/2 preface; an HTTP/1.1 request line differs within its first
	// bytes ("PRI * HTTP/1.1" at the 12th).
	var buf [len(h2Preface)]byte
	n := 0
	for n < len(buf) && bytes.Equal(buf[:n], []byte(h2Preface[:n])) {
		k, err := c.Read(buf[n:])
		n += k
		if err != nil {
			if n == 0 {
				_ = c.Close()
				return
			}
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	if m := matched(buf[:n]); m >= len("PRI * HTTP/2.0") && m < len(h2Preface) {
		// An HTTP/2 preface that goes wrong: no HTTP/1.1 request either.
		_ = c.Close()
		return
	}
	pc := &prefixConn{Conn: c, pre: append([]byte(nil), buf[:n]...)}
	if n == len(buf) && string(buf[:]) == h2Preface {
		bc := newBatchConn(pc)
		bc.setAsync()
		l.h2conns.push(bc)
		return
	}
	l.h1conns.push(newLFGuard(pc))
}

// matched returns how many leading bytes of b agree with the h2 preface.
func matched(b []byte) int {
	n := 0
	for n < len(b) && n < len(h2Preface) && b[n] == h2Preface[n] {
		n++
	}
	return n
}

func (l *h1Listener) shutdownDispatch(ctx context.Context) error {
	_ = l.ln.Close()
	// fasthttp's Shutdown closes only listeners its Serve has registered;
	// a Serve goroutine that has not started yet would otherwise block in
	// Accept forever. Closing the queues makes any Serve return.
	_ = l.h1conns.Close()
	if l.h2conns != nil {
		_ = l.h2conns.Close()
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	run := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	run(l.shutdownH1)
	if l.h2 != nil {
		run(l.shutdownH2)
	}
	if l.h3 != nil {
		run(l.h3.shutdown)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// connQueue is a net.Listener whose connections come from the accept loop.
type connQueue struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the server, or closes it when the server stopped.
func (q *connQueue) push(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		_ = c.Close()
	}
}

// Accept implements net.Listener.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener; the socket itself is closed by shutdown.
func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

// Addr implements net.Listener.
func (q *connQueue) Addr() net.Addr { return q.addr }

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// portString returns the port of a bound address.
func portString(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return strconv.Itoa(ta.Port)
	}
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// CloseWrite shuts the write side when the underlying connection can, so a
// lingering close works on peeked connections too.
func (c *prefixConn) CloseWrite() error { return closeWrite(c.Conn) }

// closeWrite shuts c's write side when c can (TCP, and the wrappers around
// it); a connection that cannot is left as it is.
func closeWrite(c net.Conn) error {
	if hw, ok := c.(interface{ CloseWrite() error }); ok {
		return hw.CloseWrite()
	}
	return nil
}
