//go:build linux

package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The plain path's tests: real sockets on loopback, a gateway in front of
// echo backends or of raw backends written here, and the plain server's
// served / handedOff counters to tell which path answered.

// listenerOf returns gw's listener named name.
func listenerOf(t testing.TB, gw *Gateway, name string) *h1Listener {
	t.Helper()
	gw.mu.Lock()
	defer gw.mu.Unlock()
	for _, l := range gw.listeners {
		if l.name == name {
			return l
		}
	}
	t.Fatalf("no listener %q", name)
	return nil
}

// plainOf returns the plain server of gw's listener "web"; it must have one.
func plainOf(t testing.TB, gw *Gateway) *plainServer {
	t.Helper()
	ps := listenerOf(t, gw, "web").plain
	if ps == nil {
		t.Fatal(`listener "web" has no plain server`)
	}
	return ps
}

// plainCounts is a snapshot of a plain server's counters.
type plainCounts struct{ served, handedOff int64 }

func (s *plainServer) counts() plainCounts {
	c := plainCounts{handedOff: s.handedOff.Load()}
	for _, p := range s.loops {
		c.served += p.served.Load()
	}
	return c
}

// startPlain serves listener "web" (with listenerExtra) in front of an
// upstream "u" (with upstreamExtra) over eps, and returns the gateway, the
// listener's host:port and its plain server.
func startPlain(t *testing.T, listenerExtra, upstreamExtra string, eps ...string) (*Gateway, string, *plainServer) {
	t.Helper()
	var blocks []string
	for _, e := range eps {
		blocks = append(blocks, fmt.Sprintf("%q {}", e))
	}
	src := fmt.Sprintf(webListener, listenerExtra) + upstreamHCL("u", "round_robin", upstreamExtra, blocks...)
	gw, url := startGateway(t, src, Options{})
	return gw, strings.TrimPrefix(url, "http://"), plainOf(t, gw)
}

// rawConn is a client connection that writes requests as bytes and reads
// responses with net/http's parser.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawConn) write(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one response to a request with method, and its body.
func (rc *rawConn) read(method string) (*http.Response, []byte) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("reading the body: %v", err)
	}
	return resp, body
}

// do writes req and reads its response.
func (rc *rawConn) do(method, req string) (*http.Response, []byte) {
	rc.t.Helper()
	rc.write(req)
	return rc.read(method)
}

// wantClosed asserts that the gateway closed the connection.
func (rc *rawConn) wantClosed() {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := rc.br.ReadByte()
	if err == nil {
		rc.t.Fatalf("connection still open: read %q", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rc.t.Fatal("connection still open: the read timed out")
	}
}

// wantDrained reads the response to a GET of path that was in flight while
// its server stopped (during names the event): it must come whole, say
// Connection: close, and be followed by the close.
func (rc *rawConn) wantDrained(path, during string) {
	rc.t.Helper()
	resp, body := rc.read("GET")
	if resp.StatusCode != 200 || echoReply(rc.t, body).Path != path {
		rc.t.Fatalf("in flight during %s: %d %s", during, resp.StatusCode, body)
	}
	if !resp.Close {
		rc.t.Errorf("the last response during %s must say Connection: close", during)
	}
	rc.wantClosed()
}

// rawGet is a plain GET request head.
func rawGet(path string, fields ...string) string {
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: plain.test\r\n")
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString(fields[i] + ": " + fields[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// rawBackend serves each connection it accepts with serve, on a loopback
// port; the connection is closed when serve returns.
func rawBackend(t testing.TB, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]struct{}{}
		closed bool
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				_ = c.Close()
				return
			}
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					_ = c.Close()
				}()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// wantCounts asserts how the counters moved from before.
func wantCounts(t testing.TB, ps *plainServer, before plainCounts, served, handedOff int64) {
	t.Helper()
	now := ps.counts()
	if d := now.served - before.served; d != served {
		t.Errorf("plain path served %d requests, want %d", d, served)
	}
	if d := now.handedOff - before.handedOff; d != handedOff {
		t.Errorf("plain path handed over %d connections, want %d", d, handedOff)
	}
}

// TestPlainPathServes: a plain GET goes upstream with the forwarding fields
// set and the hop-by-hop ones dropped, and its response comes back with
// the end-to-end fields, without Keep-Alive, with a Date.
func TestPlainPathServes(t *testing.T) {
	be := startEcho(t, "e")
	_, addr, ps := startPlain(t, "", "", be[0].Addr())
	before := ps.counts()
	resp, body := get(t, newClient(), "http://"+addr+"/p/a?q=1&r=two",
		"X-Forwarded-For", "203.0.113.7",
		"Via", "1.0 edge",
		"X-Forwarded-Proto", "https",
		"Keep-Alive", "timeout=5",
		"Te", "trailers",
		"Proxy-Authorization", "Basic Zm9vOmJhcg==",
		"Connection", "keep-alive",
		"X-Keep", "yes",
		"X-Echo-Header", "Keep-Alive=timeout=9",
		"X-Echo-Header", "X-App=1",
	)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	r := echoReply(t, body)
	wantUpstreamFields(t, r, map[string]string{
		"x-forwarded-for":   "203.0.113.7, 127.0.0.1",
		"x-forwarded-proto": "http",
		"via":               "1.0 edge, 1.1 wasmgate",
		"x-keep":            "yes",
	}, "keep-alive", "te", "proxy-authorization", "connection")
	if r.Method != "GET" || r.Path != "/p/a?q=1&r=two" {
		t.Errorf("upstream saw %s %q, want GET /p/a?q=1&r=two", r.Method, r.Path)
	}
	if r.Host != addr {
		t.Errorf("upstream saw Host %q, want %q", r.Host, addr)
	}
	if got := resp.Header.Get("X-App"); got != "1" {
		t.Errorf("end-to-end response field X-App = %q, want 1", got)
	}
	if got := resp.Header.Get("X-Backend"); got != "e" {
		t.Errorf("X-Backend = %q, want e", got)
	}
	if v, ok := resp.Header["Keep-Alive"]; ok {
		t.Errorf("the upstream's Keep-Alive reached the client: %q", v)
	}
	if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
		t.Errorf("Date %q: %v", resp.Header.Get("Date"), err)
	}
	wantCounts(t, ps, before, 1, 0)
}

// TestPlainPathHandsOver: what the plain path does not serve goes to the
// general path, which answers it as it always does.
func TestPlainPathHandsOver(t *testing.T) {
	be := startEcho(t, "e")
	_, addr, ps := startPlain(t, `max_header_size = "4KiB"`, "", be[0].Addr())
	big := strings.Repeat("x", 8<<10)
	tests := []struct {
		name  string
		req   string
		check func(t *testing.T, resp *http.Response, body []byte)
	}{
		{
			name: "body",
			req:  "POST /post HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 11\r\nX-Echo-Body: 1\r\n\r\nhello world",
			check: func(t *testing.T, resp *http.Response, body []byte) {
				r := echoReply(t, body)
				if resp.StatusCode != 200 || r.Method != "POST" || r.Body != "hello world" || r.BodyBytes != 11 {
					t.Errorf("%d %s body %q (%d bytes)", resp.StatusCode, r.Method, r.Body, r.BodyBytes)
				}
			},
		},
		{
			name: "connection option",
			req:  rawGet("/conn", "Connection", "keep-alive, X-Secret", "X-Secret", "1", "X-Other", "2"),
			check: func(t *testing.T, resp *http.Response, body []byte) {
				r := echoReply(t, body)
				if resp.StatusCode != 200 || r.Path != "/conn" {
					t.Errorf("%d %q", resp.StatusCode, r.Path)
				}
				if v, ok := r.Headers["x-secret"]; ok {
					t.Errorf("a field the Connection field names reached the upstream: %q", v)
				}
				if got := strings.Join(r.Headers["x-other"], "|"); got != "2" {
					t.Errorf("x-other = %q, want 2", got)
				}
			},
		},
		{
			name: "HTTP/1.0",
			req:  "GET /ten HTTP/1.0\r\nHost: plain.test\r\n\r\n",
			check: func(t *testing.T, resp *http.Response, body []byte) {
				r := echoReply(t, body)
				if resp.StatusCode != 200 || r.Path != "/ten" {
					t.Errorf("%d %q", resp.StatusCode, r.Path)
				}
			},
		},
		{
			name: "upgrade",
			req: rawGet("/up", "Connection", "Upgrade", "Upgrade", "websocket",
				"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
			check: func(t *testing.T, resp *http.Response, body []byte) {
				// The echo does not switch: it answers the request.
				r := echoReply(t, body)
				if resp.StatusCode != 200 || r.Path != "/up" {
					t.Errorf("%d %q", resp.StatusCode, r.Path)
				}
				if got := strings.Join(r.Headers["upgrade"], "|"); got != "websocket" {
					t.Errorf("upstream saw Upgrade %q; the general path forwards it", got)
				}
			},
		},
		{
			name: "bare LF",
			req:  "GET /lf HTTP/1.1\r\nHost: plain.test\nX-A: 1\r\n\r\n",
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if resp.StatusCode != 400 {
					t.Errorf("status %d, want 400: %s", resp.StatusCode, body)
				}
			},
		},
		{
			name: "head over max_header_size",
			req:  rawGet("/big", "X-Big", big),
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if resp.StatusCode != 431 {
					t.Errorf("status %d, want 431: %.100s", resp.StatusCode, body)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ps.counts()
			rc := dialRaw(t, addr)
			resp, body := rc.do("GET", tt.req)
			tt.check(t, resp, body)
			wantCounts(t, ps, before, 0, 1)
		})
	}
}

// TestPlainPathPipelined: requests written together are answered in order;
// one the plain path cannot serve hands the connection over with the
// requests after it; a client that half-closes after its requests gets
// their responses, then the close.
func TestPlainPathPipelined(t *testing.T) {
	be := startEcho(t, "e")
	_, addr, ps := startPlain(t, "", "", be[0].Addr())
	post := "POST /two HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 3\r\nX-Echo-Body: 1\r\n\r\nabc"
	tests := []struct {
		name              string
		reqs              []string
		paths             []string
		served, handedOff int64
		halfClose         bool
	}{
		{"plain", []string{rawGet("/one"), rawGet("/two?x=2"), rawGet("/three")}, []string{"/one", "/two?x=2", "/three"}, 3, 0, false},
		{"body in the middle", []string{rawGet("/one"), post, rawGet("/three")}, []string{"/one", "/two", "/three"}, 1, 1, false},
		{"half-closed", []string{rawGet("/one"), rawGet("/two")}, []string{"/one", "/two"}, 2, 0, true},
		{"one request, half-closed", []string{rawGet("/one")}, []string{"/one"}, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ps.counts()
			rc := dialRaw(t, addr)
			rc.write(strings.Join(tt.reqs, ""))
			if tt.halfClose {
				if err := rc.c.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			for i, path := range tt.paths {
				resp, body := rc.read("GET")
				r := echoReply(t, body)
				if resp.StatusCode != 200 || r.Path != path {
					t.Fatalf("response %d: %d for %q, want 200 for %q", i, resp.StatusCode, r.Path, path)
				}
			}
			if tt.halfClose {
				rc.wantClosed()
			}
			wantCounts(t, ps, before, tt.served, tt.handedOff)
		})
	}
}

// framingBackend answers by path with the response framings the plain path
// passes through. It sends no Date, so the gateway adds one.
func framingBackend(t testing.TB) string {
	return rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			var resp string
			switch req.URL.Path {
			case "/chunked":
				resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n" +
					"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: done\r\n\r\n"
			case "/close":
				// One write and the close right after it: the hangup
				// usually arrives with the data, in one event.
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Framing: close\r\n\r\nclose-delimited body")
				return
			case "/head":
				resp = "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"
			case "/nocontent":
				resp = "HTTP/1.1 204 No Content\r\nX-N: 1\r\n\r\n"
			case "/early":
				_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
				time.Sleep(20 * time.Millisecond)
				resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
			case "/invalid":
				_, _ = io.WriteString(c, "HTTP/1.1 2x0 Nope\r\nContent-Length: 0\r\n\r\n")
				return
			default:
				resp = "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(req.URL.Path)) + "\r\n\r\n" + req.URL.Path
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
}

// TestPlainPathResponseFramings: each way a response body can be delimited
// reaches the client whole, and the connection stays usable unless the body
// ended with the upstream's close.
func TestPlainPathResponseFramings(t *testing.T) {
	_, addr, ps := startPlain(t, "", "", framingBackend(t))
	tests := []struct {
		name, method, path string
		status             int
		body               string
		closed             bool
		check              func(t *testing.T, resp *http.Response)
	}{
		{name: "chunked with trailer", method: "GET", path: "/chunked", status: 200, body: "hello world",
			check: func(t *testing.T, resp *http.Response) {
				if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
					t.Errorf("Transfer-Encoding %q, want chunked", resp.TransferEncoding)
				}
				if got := resp.Trailer.Get("X-T"); got != "done" {
					t.Errorf("trailer X-T = %q, want done", got)
				}
			}},
		{name: "close-delimited", method: "GET", path: "/close", status: 200, body: "close-delimited body", closed: true,
			check: func(t *testing.T, resp *http.Response) {
				if !resp.Close || resp.Header.Get("X-Framing") != "close" {
					t.Errorf("Connection: close %v, X-Framing %q", resp.Close, resp.Header.Get("X-Framing"))
				}
			}},
		{name: "HEAD", method: "HEAD", path: "/head", status: 200, body: "",
			check: func(t *testing.T, resp *http.Response) {
				if resp.ContentLength != 42 {
					t.Errorf("Content-Length %d, want 42", resp.ContentLength)
				}
			}},
		{name: "204", method: "GET", path: "/nocontent", status: 204, body: "",
			check: func(t *testing.T, resp *http.Response) {
				if resp.Header.Get("X-N") != "1" {
					t.Errorf("X-N = %q", resp.Header.Get("X-N"))
				}
			}},
		{name: "103 then 200", method: "GET", path: "/early", status: 200, body: "ok"},
		{name: "invalid head", method: "GET", path: "/invalid", status: 502, body: "502 Bad Gateway\n",
			check: func(t *testing.T, resp *http.Response) {
				if got := resp.Header.Get("X-Wasmgate-Reason"); got != "invalid upstream response" {
					t.Errorf("X-Wasmgate-Reason %q", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ps.counts()
			rc := dialRaw(t, addr)
			req := strings.Replace(rawGet(tt.path), "GET", tt.method, 1)
			resp, body := rc.do(tt.method, req)
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
			if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
				t.Errorf("no Date added: %q", resp.Header.Get("Date"))
			}
			if tt.check != nil {
				tt.check(t, resp)
			}
			if tt.closed {
				rc.wantClosed()
				wantCounts(t, ps, before, 1, 0)
				return
			}
			resp, body = rc.do("GET", rawGet("/again"))
			if resp.StatusCode != 200 || string(body) != "/again" || resp.Close {
				t.Fatalf("the next request on the connection: %d %q close=%v", resp.StatusCode, body, resp.Close)
			}
			wantCounts(t, ps, before, 2, 0)
		})
	}
}

// TestPlainPathFailures: failed tries are retried or answered as the
// general path would.
func TestPlainPathFailures(t *testing.T) {
	t.Run("refused endpoint retried", func(t *testing.T) {
		be := startEcho(t, "alive")
		_, addr, ps := startPlain(t, "", "", deadAddr(t), be[0].Addr())
		c := newClient()
		for i := range 20 {
			resp, _ := get(t, c, "http://"+addr+"/")
			if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "alive" {
				t.Fatalf("request %d: %d from %q", i, resp.StatusCode, resp.Header.Get("X-Backend"))
			}
		}
		if ps.counts().handedOff == 0 {
			t.Error("no request met the refused endpoint on the plain path")
		}
	})
	t.Run("all refused", func(t *testing.T) {
		_, addr, _ := startPlain(t, "", "", deadAddr(t))
		resp, body := get(t, newClient(), "http://"+addr+"/")
		if resp.StatusCode != 502 || resp.Header.Get("X-Wasmgate-Reason") != "connect failure" {
			t.Fatalf("%d %q %q, want 502 connect failure", resp.StatusCode, resp.Header.Get("X-Wasmgate-Reason"), body)
		}
	})
	t.Run("response timeout", func(t *testing.T) {
		be := startEcho(t, "slow")
		_, addr, ps := startPlain(t, "", `timeout = "300ms"`, be[0].Addr())
		before := ps.counts()
		rc := dialRaw(t, addr)
		resp, body := rc.do("GET", rawGet("/", "X-Echo-Delay", "3s"))
		if resp.StatusCode != 504 || resp.Header.Get("X-Wasmgate-Reason") != "upstream timeout" || string(body) != "504 Gateway Timeout\n" {
			t.Fatalf("%d %q %q, want 504 upstream timeout", resp.StatusCode, resp.Header.Get("X-Wasmgate-Reason"), body)
		}
		resp, _ = rc.do("GET", rawGet("/"))
		if resp.StatusCode != 200 {
			t.Fatalf("after the timeout: %d, want 200", resp.StatusCode)
		}
		wantCounts(t, ps, before, 2, 0)
	})
	t.Run("reset on a new connection", func(t *testing.T) {
		be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
			_, _ = http.ReadRequest(br)
		})
		_, addr, ps := startPlain(t, "", "", be)
		before := ps.counts()
		rc := dialRaw(t, addr)
		resp, _ := rc.do("GET", rawGet("/"))
		if resp.StatusCode != 502 || resp.Header.Get("X-Wasmgate-Reason") != "upstream reset" {
			t.Fatalf("%d %q, want 502 upstream reset", resp.StatusCode, resp.Header.Get("X-Wasmgate-Reason"))
		}
		wantCounts(t, ps, before, 1, 0)
	})
	// One response per connection, then the backend closes it: idle, or
	// when the next request arrives (the race of a stale connection).
	for _, closeOnNext := range []bool{false, true} {
		t.Run(fmt.Sprintf("stale connection (close on next request %v)", closeOnNext), func(t *testing.T) {
			closed := make(chan struct{}, 16)
			be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
				defer func() {
					select {
					case closed <- struct{}{}:
					default:
					}
				}()
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
					return
				}
				if closeOnNext {
					_, _ = http.ReadRequest(br)
				}
			})
			_, addr, ps := startPlain(t, "", "", be)
			rc := dialRaw(t, addr)
			for i := range 3 {
				resp, body := rc.do("GET", rawGet("/"))
				if resp.StatusCode != 200 || string(body) != "ok" {
					t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
				}
				if !closeOnNext {
					<-closed // the idle connection is closed before the next request
				}
			}
			if closeOnNext && ps.counts().handedOff != 1 {
				t.Errorf("handed over %d connections; the request on the stale connection must go to the general path once", ps.counts().handedOff)
			}
		})
	}
}

// TestPlainPathOff: plain_path = false leaves the listener to fasthttp.
func TestPlainPathOff(t *testing.T) {
	be := startEcho(t, "e")
	src := fmt.Sprintf(webListener, "plain_path = false") + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	gw, url := startGateway(t, src, Options{})
	if ps := listenerOf(t, gw, "web").plain; ps != nil {
		t.Fatal("plain_path = false: the listener has a plain server")
	}
	resp, body := get(t, newClient(), url+"/off")
	if resp.StatusCode != 200 || echoReply(t, body).Path != "/off" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// TestPlainPathReload: a reload that gives the listener a chain takes its
// requests, on new and on kept-alive connections, off the plain path; one
// that takes the chain away gives them back.
func TestPlainPathReload(t *testing.T) {
	be := startEcho(t, "e")
	up := upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	plainSrc := fmt.Sprintf(webListener, "") + up
	chainSrc := fmt.Sprintf(webListener, `chain = "c"`) + up + `
chain "c" {
  filter "second" { module = "builtin:test-b" }
}
`
	gw, url := startGateway(t, plainSrc, Options{NativeFilter: nativeStages})
	addr := strings.TrimPrefix(url, "http://")
	ps := plainOf(t, gw)
	// check sends a request on rc and reports whether the chain ran.
	check := func(rc *rawConn) bool {
		t.Helper()
		resp, body := rc.do("GET", rawGet("/r"))
		r := echoReply(t, body)
		if resp.StatusCode != 200 || r.Path != "/r" {
			t.Fatalf("%d %q", resp.StatusCode, r.Path)
		}
		stage := strings.Join(r.Headers["x-stage"], "|")
		stageResp := resp.Header.Get("X-Stage-Resp")
		if (stage == "") != (stageResp == "") {
			t.Fatalf("the chain ran half: request %q, response %q", stage, stageResp)
		}
		return stage == "second" && stageResp == "second"
	}

	before := ps.counts()
	kept := dialRaw(t, addr)
	if check(kept) {
		t.Fatal("the chain ran before the reload")
	}
	wantCounts(t, ps, before, 1, 0)

	reloadTo(t, gw, chainSrc)
	before = ps.counts()
	if !check(dialRaw(t, addr)) {
		t.Error("new connection after the reload: the chain did not run")
	}
	if !check(kept) {
		t.Error("kept-alive connection after the reload: the chain did not run")
	}
	if !check(kept) {
		t.Error("kept-alive connection, second request after the reload: the chain did not run")
	}
	wantCounts(t, ps, before, 0, 2)

	reloadTo(t, gw, plainSrc)
	before = ps.counts()
	if check(dialRaw(t, addr)) {
		t.Error("the chain ran after the reload that removed it")
	}
	wantCounts(t, ps, before, 1, 0)
}

// TestPlainPathShutdownDrains: a request in flight on the plain path
// completes while the gateway shuts down; then the port is closed.
func TestPlainPathShutdownDrains(t *testing.T) {
	be := startEcho(t, "e")
	gw, addr, ps := startPlain(t, "", "", be[0].Addr())
	rc := dialRaw(t, addr)
	rc.write(rawGet("/slow", "X-Echo-Delay", "500ms"))
	for wait := time.Now().Add(5 * time.Second); ps.counts().served == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("the plain path did not forward the request")
		}
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- gw.Shutdown(ctx)
	}()
	rc.wantDrained("/slow", "shutdown")
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("the port still accepts connections after shutdown")
	}
}

// patternBlock is what the echo backend streams for X-Echo-Size, repeated.
func patternBlock() []byte {
	b := make([]byte, 32<<10)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// TestPlainPathLargeDownload: large bodies pass through whole to a client
// that does not read at first (the loop stops reading the upstream and
// resumes).
func TestPlainPathLargeDownload(t *testing.T) {
	t.Run("content-length", func(t *testing.T) {
		be := startEcho(t, "e")
		_, addr, ps := startPlain(t, "", "", be[0].Addr())
		before := ps.counts()
		const size = 64 << 20
		req, _ := http.NewRequest("GET", "http://"+addr+"/big", nil)
		req.Header.Set("X-Echo-Size", strconv.Itoa(size))
		resp, err := newClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != size {
			t.Fatalf("%d, Content-Length %d", resp.StatusCode, resp.ContentLength)
		}
		time.Sleep(100 * time.Millisecond)
		block := patternBlock()
		buf := make([]byte, len(block))
		for off := 0; off < size; off += len(buf) {
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatalf("at %d: %v", off, err)
			}
			if !bytes.Equal(buf, block) {
				t.Fatalf("wrong bytes in the block at %d", off)
			}
		}
		if n, err := io.Copy(io.Discard, resp.Body); n != 0 || err != nil {
			t.Fatalf("%d bytes past the end (%v)", n, err)
		}
		wantCounts(t, ps, before, 1, 0)
	})
	t.Run("chunked", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		payload := make([]byte, 4<<20)
		for i := range payload {
			payload[i] = byte(rng.Uint32())
		}
		be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			bw := bufio.NewWriterSize(c, 64<<10)
			bw.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n")
			crng := rand.New(rand.NewPCG(3, 4))
			for rest := payload; len(rest) > 0; {
				n := min(len(rest), 1+crng.IntN(100<<10))
				fmt.Fprintf(bw, "%x\r\n", n)
				bw.Write(rest[:n])
				bw.WriteString("\r\n")
				rest = rest[n:]
			}
			bw.WriteString("0\r\n\r\n")
			_ = bw.Flush()
			_, _ = http.ReadRequest(br) // keep the connection until the gateway closes it
		})
		_, addr, ps := startPlain(t, "", "", be)
		before := ps.counts()
		resp, err := newClient().Get("http://" + addr + "/chunked")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		time.Sleep(100 * time.Millisecond)
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || len(resp.TransferEncoding) != 1 || !bytes.Equal(got, payload) {
			t.Fatalf("%d %q: %d bytes, want %d (equal %v)", resp.StatusCode, resp.TransferEncoding, len(got), len(payload), bytes.Equal(got, payload))
		}
		wantCounts(t, ps, before, 1, 0)
	})
}

// plainRoundTripper is a raw keep-alive client of a gateway on the plain
// path in front of fixedBackend: it writes one fixed request and reads its
// fixed-size response.
type plainRoundTripper struct {
	c    net.Conn
	req  []byte
	resp []byte // sized to one response
	ps   *plainServer
}

func newPlainRoundTripper(tb testing.TB, listenerExtra string) *plainRoundTripper {
	tb.Helper()
	src := fmt.Sprintf(webListener, listenerExtra) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", fixedBackend(tb)))
	gw, url := startGateway(tb, src, Options{})
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	rt := &plainRoundTripper{
		c:   c,
		req: []byte("GET /bench?x=1 HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench\r\nAccept: */*\r\nX-Forwarded-For: 198.51.100.1\r\n\r\n"),
		ps:  plainOf(tb, gw),
	}
	// The first response gives the size of all: the same head (its Date
	// has a fixed width) and body.
	if _, err := c.Write(rt.req); err != nil {
		tb.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !bytes.Contains(got, []byte("\r\n\r\n")) {
		n, err := c.Read(buf)
		if err != nil {
			tb.Fatalf("first response: %v after %q", err, got)
		}
		got = append(got, buf[:n]...)
	}
	_ = c.SetReadDeadline(time.Time{})
	headLen := bytes.Index(got, []byte("\r\n\r\n")) + 4
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got[:headLen])), nil)
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 1024 {
		tb.Fatalf("first response: %v %q", err, got[:headLen])
	}
	size := headLen + 1024
	if _, err := io.ReadFull(c, make([]byte, size-len(got))); err != nil {
		tb.Fatal(err)
	}
	rt.resp = make([]byte, size)
	if err := rt.roundTrip(); err != nil {
		tb.Fatal(err)
	}
	return rt
}

// roundTrip sends the request and reads the whole response.
func (rt *plainRoundTripper) roundTrip() error {
	if _, err := rt.c.Write(rt.req); err != nil {
		return err
	}
	if _, err := io.ReadFull(rt.c, rt.resp); err != nil {
		return err
	}
	if string(rt.resp[:12]) != "HTTP/1.1 200" || rt.resp[len(rt.resp)-1] != 'x' || string(rt.resp[len(rt.resp)-1024-4:len(rt.resp)-1024]) != "\r\n\r\n" {
		return fmt.Errorf("unexpected response %q", rt.resp)
	}
	return nil
}

// plainVariants are the listener settings the plain path's benchmark and
// allocation guard run with: bare, and with an access log to a file.
func plainVariants(tb testing.TB) []struct{ name, listenerExtra string } {
	return []struct{ name, listenerExtra string }{
		{"bare", ""},
		{"access_log", fmt.Sprintf("access_log = %q", filepath.Join(tb.TempDir(), "access.log"))},
	}
}

func BenchmarkPlainPath(b *testing.B) {
	for _, v := range plainVariants(b) {
		b.Run(v.name, func(b *testing.B) {
			rt := newPlainRoundTripper(b, v.listenerExtra)
			b.ReportAllocs()
			for b.Loop() {
				if err := rt.roundTrip(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPlainPathAllocs guards the plain path's steady state: a request on a
// kept-alive connection allocates nothing (in the gateway, the backend or
// the client), with or without an access log.
func TestPlainPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, v := range plainVariants(t) {
		t.Run(v.name, func(t *testing.T) {
			rt := newPlainRoundTripper(t, v.listenerExtra)
			for range 200 {
				if err := rt.roundTrip(); err != nil {
					t.Fatal(err)
				}
			}
			before := rt.ps.counts()
			var err error
			allocs := testing.AllocsPerRun(500, func() {
				if err == nil {
					err = rt.roundTrip()
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			wantCounts(t, rt.ps, before, 501, 0)
			if allocs != 0 {
				t.Fatalf("%v allocations per request on the plain path, want 0", allocs)
			}
		})
	}
}

// TestPlainPathAccessLog: a listener with access_log stays on the plain
// path, and each request logs the line the general path logs for it. The
// same requests go to listener "web" (plain path) and to "gen"
// (plain_path = false) over one backend; the two logs must agree on every
// field but the ones that differ between two requests (time, duration,
// client port, listener).
func TestPlainPathAccessLog(t *testing.T) {
	dir := t.TempDir()
	webLog, genLog := filepath.Join(dir, "web.log"), filepath.Join(dir, "gen.log")
	be := framingBackend(t)
	src := fmt.Sprintf(webListener, fmt.Sprintf("access_log = %q", webLog)) +
		fmt.Sprintf(`
listener "gen" {
  address    = "127.0.0.1:0"
  protocol   = "http"
  upstream   = "u"
  plain_path = false
  access_log = %q
}
`, genLog) +
		upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be))
	gw, _ := startGateway(t, src, Options{})
	ps := plainOf(t, gw)
	requests := []struct{ name, method, req string }{
		{"fields", "GET", rawGet("/a?x=1", "User-Agent", `probe/"1"`, "Referer", "http://ref.example/", "X-Forwarded-For", "192.0.2.7")},
		{"no optional fields", "GET", "GET /bare HTTP/1.1\r\nHost: bare.test\r\n\r\n"},
		{"content-length 0", "GET", rawGet("/zero", "Content-Length", "0")},
		{"HEAD", "HEAD", strings.Replace(rawGet("/head"), "GET", "HEAD", 1)},
		{"chunked", "GET", rawGet("/chunked")},
		{"204", "GET", rawGet("/nocontent")},
		{"103 then 200", "GET", rawGet("/early")},
		{"invalid upstream head", "GET", rawGet("/invalid")},
		{"close-delimited", "GET", rawGet("/close")},
	}
	before := ps.counts()
	for _, listener := range []string{"web", "gen"} {
		addr := gw.Addr(listener).String()
		for _, r := range requests {
			rc := dialRaw(t, addr)
			if resp, _ := rc.do(r.method, r.req); resp.StatusCode == 0 {
				t.Fatalf("%s %s: no response", listener, r.name)
			}
		}
	}
	wantCounts(t, ps, before, int64(len(requests)), 0)
	if err := gw.Shutdown(context.Background()); err != nil { // flushes the logs
		t.Fatal(err)
	}
	web, gen := readAccessLog(t, webLog), readAccessLog(t, genLog)
	if len(web) != len(requests) || len(gen) != len(requests) {
		t.Fatalf("%d lines on the plain path, %d on the general path, want %d each", len(web), len(gen), len(requests))
	}
	for i, r := range requests {
		t.Run(r.name, func(t *testing.T) {
			w, g := web[i], gen[i]
			for _, l := range []map[string]any{w, g} {
				if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["time"])); err != nil {
					t.Errorf("time %v: %v", l["time"], err)
				}
				if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
					t.Errorf("duration_ms %v", l["duration_ms"])
				}
				if c := fmt.Sprint(l["client"]); !strings.HasPrefix(c, "127.0.0.1:") {
					t.Errorf("client %q", c)
				}
			}
			if w["listener"] != "web" || g["listener"] != "gen" {
				t.Errorf("listeners %v and %v", w["listener"], g["listener"])
			}
			keys := map[string]bool{}
			for k := range w {
				keys[k] = true
			}
			for k := range g {
				keys[k] = true
			}
			for k := range keys {
				switch k {
				case "time", "duration_ms", "client", "listener":
					continue
				}
				if fmt.Sprint(w[k]) != fmt.Sprint(g[k]) {
					t.Errorf("%s: plain path %#v, general path %#v", k, w[k], g[k])
				}
			}
		})
	}
	// Spot checks, so that two paths agreeing on a wrong value still fail.
	if l := web[0]; l["method"] != "GET" || l["uri"] != "/a?x=1" || l["host"] != "plain.test" || l["status"] != 200.0 ||
		l["user_agent"] != `probe/"1"` || l["referer"] != "http://ref.example/" || l["x_forwarded_for"] != "192.0.2.7, 127.0.0.1" ||
		l["endpoint"] != be || l["upstream"] != "u" || l["tries"] != 1.0 || l["bytes_sent"] != float64(len("/a")) {
		t.Errorf("first line: %v", l)
	}
	if l := web[7]; l["status"] != 502.0 {
		t.Errorf("invalid upstream head logged as %v, want 502", l["status"])
	}
}

// TestMaxHeaderSizeBoundary: max_header_size is the largest request head,
// from the request line through the blank line, that is served; one byte
// more gets a 431. The same on both HTTP/1.1 paths.
func TestMaxHeaderSizeBoundary(t *testing.T) {
	be := startEcho(t, "e")
	up := upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	for _, path := range []struct{ name, extra string }{
		{"plain path", ""},
		{"general path", "plain_path = false\n"},
	} {
		t.Run(path.name, func(t *testing.T) {
			_, url := startGateway(t, fmt.Sprintf(webListener, path.extra+`max_header_size = "2KiB"`)+up, Options{})
			addr := strings.TrimPrefix(url, "http://")
			for _, tc := range []struct{ size, want int }{{1024, 200}, {2047, 200}, {2048, 200}, {2049, 431}, {2100, 431}} {
				head := headOfSize(tc.size)
				if len(head) != tc.size {
					t.Fatalf("built a %d-byte head, want %d", len(head), tc.size)
				}
				if resp, body := dialRaw(t, addr).do("GET", head); resp.StatusCode != tc.want {
					t.Errorf("a %d-byte head: %d %s, want %d", tc.size, resp.StatusCode, body, tc.want)
				}
			}
		})
	}
}

// headOfSize returns a GET request head of n bytes.
func headOfSize(n int) string {
	return rawGet("/h", "X-Pad", strings.Repeat("p", n-len(rawGet("/h", "X-Pad", ""))))
}
