package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// waitLimit bounds every wait on a signal from a test server, so a broken
// build fails instead of hanging. It never decides a passing run.
const waitLimit = 10 * time.Second

// rawServer is a real HTTP/1.1 peer on 127.0.0.1 written by hand, so that it
// can misbehave on purpose. Each request is parsed with net/http's parser
// and answered by the handler, which writes raw bytes.
type rawServer struct {
	t        *testing.T
	ln       net.Listener
	handler  rawHandler
	accepted atomic.Int32
	requests atomic.Int32
	// peerClosed receives one value per connection the client closed
	// (EOF while the server waited for the next request).
	peerClosed chan struct{}
	// serverClosed receives one value per connection the server closed.
	serverClosed chan struct{}
	// stop is closed at cleanup: handlers that hold a request wait on it.
	stop chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// rawHandler answers one request. n counts requests on the server from 1, i
// counts them on this connection from 1. It writes the response to w and
// returns false to close the connection after flushing.
type rawHandler func(s *rawServer, nc net.Conn, w *bufio.Writer, req *http.Request, body []byte, n, i int) (keep bool)

func newRawServer(t *testing.T, h rawHandler) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{
		t:            t,
		ln:           ln,
		handler:      h,
		peerClosed:   make(chan struct{}, 1024),
		serverClosed: make(chan struct{}, 1024),
		stop:         make(chan struct{}),
		conns:        map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

func (s *rawServer) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serveConn(nc)
	}
}

func (s *rawServer) serveConn(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		nc.Close()
	}()
	br := bufio.NewReader(nc)
	bw := bufio.NewWriter(nc)
	for i := 1; ; i++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				s.peerClosed <- struct{}{}
			}
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		n := int(s.requests.Add(1))
		keep := s.handler(s, nc, bw, req, body, n, i)
		if err := bw.Flush(); err != nil {
			return
		}
		if !keep {
			nc.Close()
			s.serverClosed <- struct{}{}
			return
		}
	}
}

func (s *rawServer) close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.ln.Close()
	s.mu.Lock()
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// wait receives one signal from ch or fails the test.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// Handlers.

// reply answers every request with a fixed raw response (head and body).
func reply(raw string) rawHandler {
	return func(_ *rawServer, _ net.Conn, w *bufio.Writer, _ *http.Request, _ []byte, _, _ int) bool {
		w.WriteString(raw)
		return true
	}
}

// replyAndClose answers with raw and then closes the connection without
// having announced it.
func replyAndClose(raw string) rawHandler {
	return func(_ *rawServer, _ net.Conn, w *bufio.Writer, _ *http.Request, _ []byte, _, _ int) bool {
		w.WriteString(raw)
		return false
	}
}

// resetHandler reads the request and resets the connection (RST).
func resetHandler(_ *rawServer, nc net.Conn, _ *bufio.Writer, _ *http.Request, _ []byte, _, _ int) bool {
	nc.(*net.TCPConn).SetLinger(0)
	return false
}

// holdHandler reads the request and never answers until the test ends.
func holdHandler(s *rawServer, _ net.Conn, _ *bufio.Writer, _ *http.Request, _ []byte, _, _ int) bool {
	<-s.stop
	return false
}

// okResponse is a response with a Content-Length body.
func okResponse(status int, body string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	for _, h := range extra {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// chunkedResponse encodes body in chunks of at most size bytes.
func chunkedResponse(body string, size int) string {
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
	for rest := body; len(rest) > 0; {
		n := min(size, len(rest))
		fmt.Fprintf(&b, "%x;ext=1\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	b.WriteString("0\r\nX-Trailer: t\r\n\r\n")
	return b.String()
}

// Client side.

func newUpstream(t *testing.T, cfg Config) *Upstream {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		u.Close()
		checkAccounting(t, u)
	})
	return u
}

// checkAccounting verifies that nothing leaked: no request in flight and
// every open connection is idle.
func checkAccounting(t *testing.T, u *Upstream) {
	t.Helper()
	for ep, p := range u.pools {
		if n := ep.InFlight(); n != 0 {
			t.Errorf("endpoint %s: %d requests still in flight", ep.Address(), n)
		}
		p.mu.Lock()
		open, idle := p.open, len(p.idle)
		p.mu.Unlock()
		if open != idle {
			t.Errorf("endpoint %s: %d connections open, %d idle", ep.Address(), open, idle)
		}
	}
}

func endpoints(addrs ...string) []EndpointConfig {
	eps := make([]EndpointConfig, len(addrs))
	for i, a := range addrs {
		eps[i] = EndpointConfig{Address: a, Weight: 1}
	}
	return eps
}

// result is one Forward's outcome with its body read to the end.
type result struct {
	status   int
	body     string
	streamed bool
	err      error
	call     Call
	header   string
}

func newRequest(method, uri, body string) *fasthttp.Request {
	req := new(fasthttp.Request)
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost("backend.test")
	if body != "" {
		req.SetBodyString(body)
	}
	return req
}

// forward sends req through u and reads the whole body, streamed or not,
// closing the stream the way the fasthttp server does after writing it.
func forward(t *testing.T, u *Upstream, req *fasthttp.Request) result {
	t.Helper()
	resp := new(fasthttp.Response)
	var call Call
	err := u.Forward(context.Background(), req, resp, &call)
	r := result{err: err, call: call}
	if err != nil {
		return r
	}
	r.status = resp.StatusCode()
	r.streamed = resp.IsBodyStream()
	r.header = resp.Header.String()
	if r.streamed {
		b, rerr := io.ReadAll(resp.BodyStream())
		if rerr != nil {
			t.Fatalf("reading streamed body: %v", rerr)
		}
		r.body = string(b)
		if err := resp.CloseBodyStream(); err != nil {
			t.Fatalf("CloseBodyStream: %v", err)
		}
	} else {
		r.body = string(resp.Body())
	}
	return r
}

func get(t *testing.T, u *Upstream) result {
	t.Helper()
	return forward(t, u, newRequest("GET", "/", ""))
}

// upstreamError returns err as *Error or fails.
func upstreamError(t *testing.T, err error) *Error {
	t.Helper()
	var ue *Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not *Error", err, err)
	}
	return ue
}

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
