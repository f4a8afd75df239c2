package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const testMaxBuffered = 1024

// pattern returns n bytes that are not all alike, so that a reordered or
// shifted body does not compare equal.
func pattern(n int) string {
	const abc = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = abc[(i*7+i/len(abc))%len(abc)]
	}
	return string(b)
}

func TestForwardBodiesAndReuse(t *testing.T) {
	small := pattern(100)
	atMax := pattern(testMaxBuffered)
	overMax := pattern(testMaxBuffered + 1)
	large := pattern(300 << 10) // larger than the socket buffers
	tests := []struct {
		name       string
		handler    rawHandler
		method     string
		wantStatus int
		wantBody   string
		wantHeader string // a substring of the response head
		streamed   bool
		conns      int32 // connections accepted for 3 sequential requests
	}{
		{name: "length below max buffered", handler: reply(okResponse(200, small)), wantBody: small, conns: 1},
		{name: "length at max buffered", handler: reply(okResponse(200, atMax)), wantBody: atMax, conns: 1},
		{name: "empty length", handler: reply(okResponse(200, "")), wantBody: "", conns: 1},
		{name: "length above max streams", handler: reply(okResponse(200, overMax)), wantBody: overMax, streamed: true, conns: 1},
		{name: "large length streams", handler: reply(okResponse(200, large)), wantBody: large, streamed: true, conns: 1},
		{name: "chunked streams", handler: reply(chunkedResponse(large, 4000)), wantBody: large, streamed: true, conns: 1},
		{name: "small chunked streams", handler: reply(chunkedResponse(small, 7)), wantBody: small, streamed: true, conns: 1},
		{name: "empty chunked", handler: reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), wantBody: "", streamed: true, conns: 1},
		{name: "uppercase chunk sizes", handler: reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"), wantBody: "0123456789", streamed: true, conns: 1},
		{name: "close delimited", handler: replyAndClose("HTTP/1.1 200 OK\r\n\r\n" + large), wantBody: large, streamed: true, conns: 3},
		{name: "connection close buffered", handler: replyAndClose(okResponse(200, small, "Connection: close")), wantBody: small, conns: 3},
		{name: "connection close streamed", handler: replyAndClose(okResponse(200, large, "Connection: close")), wantBody: large, streamed: true, conns: 3},
		{name: "connection close chunked", handler: replyAndClose("HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), wantBody: "hello", streamed: true, conns: 3},
		{name: "HTTP/1.0 closes by default", handler: replyAndClose("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"), wantBody: "hello", conns: 3},
		{name: "HTTP/1.0 keep-alive", handler: reply("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello"), wantBody: "hello", conns: 1},
		{name: "HEAD with length", method: "HEAD", handler: reply("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"), wantHeader: "Content-Length: 1000", conns: 1},
		{name: "HEAD with large length", method: "HEAD", handler: reply("HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n"), conns: 1},
		{name: "HEAD chunked", method: "HEAD", handler: reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), conns: 1},
		// fasthttp marks a response without framing "close" before it can
		// know the request was a HEAD: not reused, which is safe.
		{name: "HEAD without framing", method: "HEAD", handler: reply("HTTP/1.1 200 OK\r\n\r\n"), conns: 3},
		{name: "204", handler: reply("HTTP/1.1 204 No Content\r\n\r\n"), wantStatus: 204, conns: 1},
		{name: "204 with zero length", handler: reply("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"), wantStatus: 204, conns: 1},
		{name: "304 with length", handler: reply("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 500\r\n\r\n"), wantStatus: 304, wantHeader: "Etag: \"v1\"", conns: 1},
		{name: "304 chunked", handler: reply("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"), wantStatus: 304, conns: 1},
		{name: "100 continue skipped", handler: reply("HTTP/1.1 100 Continue\r\n\r\n" + okResponse(200, small)), wantBody: small, conns: 1},
		{name: "several 1xx skipped", handler: reply("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + okResponse(201, small, "X-Final: yes")), wantStatus: 201, wantBody: small, wantHeader: "X-Final: yes", conns: 1},
		{name: "1xx then chunked", handler: reply("HTTP/1.1 103 Early Hints\r\n\r\n" + chunkedResponse(overMax, 100)), wantBody: overMax, streamed: true, conns: 1},
		{name: "404 with body", handler: reply(okResponse(404, small)), wantStatus: 404, wantBody: small, conns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, tt.handler)
			u := newUpstream(t, Config{Endpoints: endpoints(srv.addr()), MaxBufferedBody: testMaxBuffered})
			method := tt.method
			if method == "" {
				method = "GET"
			}
			wantStatus := tt.wantStatus
			if wantStatus == 0 {
				wantStatus = 200
			}
			for i := range 3 {
				r := forward(t, u, newRequest(method, "/x", ""))
				if r.err != nil {
					t.Fatalf("request %d: %v", i+1, r.err)
				}
				if r.status != wantStatus {
					t.Fatalf("request %d: status %d, want %d", i+1, r.status, wantStatus)
				}
				if r.body != tt.wantBody {
					t.Fatalf("request %d: body %d bytes %.40q, want %d bytes %.40q", i+1, len(r.body), r.body, len(tt.wantBody), tt.wantBody)
				}
				if r.streamed != tt.streamed {
					t.Fatalf("request %d: streamed = %v, want %v", i+1, r.streamed, tt.streamed)
				}
				if !strings.Contains(r.header, tt.wantHeader) {
					t.Fatalf("request %d: head %q lacks %q", i+1, r.header, tt.wantHeader)
				}
				if strings.Contains(strings.ToLower(r.header), "connection: close") {
					t.Fatalf("request %d: Connection: close leaked into the response: %q", i+1, r.header)
				}
			}
			if got := srv.accepted.Load(); got != tt.conns {
				t.Fatalf("server accepted %d connections for 3 requests, want %d", got, tt.conns)
			}
		})
	}
}

// TestForwardWrittenByServer writes the response the way the fasthttp
// server does (Response.Write closes the body stream after copying it), and
// checks that this returns the connection to the pool.
func TestForwardWrittenByServer(t *testing.T) {
	large := pattern(100 << 10)
	tests := []struct {
		name    string
		handler rawHandler
	}{
		{name: "length", handler: reply(okResponse(200, large))},
		{name: "chunked", handler: reply(chunkedResponse(large, 1000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, tt.handler)
			u := newUpstream(t, Config{Endpoints: endpoints(srv.addr()), MaxBufferedBody: testMaxBuffered})
			for i := range 3 {
				resp := new(fasthttp.Response)
				var call Call
				if err := u.Forward(context.Background(), newRequest("GET", "/", ""), resp, &call); err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				bw := bufio.NewWriter(&out)
				if err := resp.Write(bw); err != nil {
					t.Fatalf("request %d: Response.Write: %v", i+1, err)
				}
				bw.Flush()
				if resp.IsBodyStream() {
					t.Fatal("Response.Write left the body stream attached")
				}
				var check fasthttp.Response
				if err := check.Read(bufio.NewReader(&out)); err != nil {
					t.Fatalf("request %d: re-reading the written response: %v", i+1, err)
				}
				if string(check.Body()) != large {
					t.Fatalf("request %d: written body differs (%d bytes)", i+1, len(check.Body()))
				}
			}
			if got := srv.accepted.Load(); got != 1 {
				t.Fatalf("server accepted %d connections, want 1", got)
			}
		})
	}
}

// TestForwardPartialBodyNotReused: a stream closed before its end must not
// put the connection back (its remaining bytes would be read as the next
// response); one read exactly to its declared end may.
func TestForwardPartialBodyNotReused(t *testing.T) {
	large := pattern(200 << 10)
	tests := []struct {
		name    string
		handler rawHandler
		read    func(r io.Reader) // how much of the body to read
		conns   int32             // for two requests
	}{
		{name: "length, read nothing", handler: reply(okResponse(200, large)), read: func(io.Reader) {}, conns: 2},
		{name: "length, read some", handler: reply(okResponse(200, large)), read: func(r io.Reader) { io.ReadFull(r, make([]byte, 10)) }, conns: 2},
		{name: "length, read all but one byte", handler: reply(okResponse(200, large)), read: func(r io.Reader) { io.ReadFull(r, make([]byte, len(large)-1)) }, conns: 2},
		{name: "length, read exactly to the end", handler: reply(okResponse(200, large)), read: func(r io.Reader) { io.ReadFull(r, make([]byte, len(large))) }, conns: 1},
		{name: "chunked, read nothing", handler: reply(chunkedResponse(large, 5000)), read: func(io.Reader) {}, conns: 2},
		{name: "chunked, read some", handler: reply(chunkedResponse(large, 5000)), read: func(r io.Reader) { io.ReadFull(r, make([]byte, 12345)) }, conns: 2},
		{name: "chunked, read to EOF", handler: reply(chunkedResponse(large, 5000)), read: func(r io.Reader) { io.Copy(io.Discard, r) }, conns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, tt.handler)
			u := newUpstream(t, Config{Endpoints: endpoints(srv.addr()), MaxBufferedBody: testMaxBuffered})
			resp := new(fasthttp.Response)
			var call Call
			if err := u.Forward(context.Background(), newRequest("GET", "/", ""), resp, &call); err != nil {
				t.Fatal(err)
			}
			if !resp.IsBodyStream() {
				t.Fatal("body not streamed")
			}
			tt.read(resp.BodyStream())
			if err := resp.CloseBodyStream(); err != nil {
				t.Fatal(err)
			}
			// The next request gets a whole, correct response either way.
			r := get(t, u)
			if r.err != nil || r.body != large {
				t.Fatalf("second request: err %v, body %d bytes", r.err, len(r.body))
			}
			if got := srv.accepted.Load(); got != tt.conns {
				t.Fatalf("server accepted %d connections, want %d", got, tt.conns)
			}
		})
	}
}

// TestForwardSwitchingProtocols: a 101 means the connection no longer speaks
// HTTP/1.1, so it must never go back to the pool.
func TestForwardSwitchingProtocols(t *testing.T) {
	srv := newRawServer(t, func(_ *rawServer, _ net.Conn, w *bufio.Writer, _ *http.Request, _ []byte, n, _ int) bool {
		if n == 1 {
			// Then "speaks" another protocol: garbage for an HTTP client.
			w.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello")
			return true
		}
		w.WriteString(okResponse(200, "fine"))
		return true
	})
	u := newUpstream(t, Config{Endpoints: endpoints(srv.addr())})
	if r := get(t, u); r.err != nil || r.status != 101 {
		t.Fatalf("first request: status %d, err %v", r.status, r.err)
	}
	r := get(t, u)
	if r.err != nil || r.status != 200 || r.body != "fine" {
		t.Fatalf("second request: status %d body %q err %v", r.status, r.body, r.err)
	}
	if got := srv.accepted.Load(); got != 2 {
		t.Fatalf("server accepted %d connections, want 2 (no reuse after 101)", got)
	}
}

func TestForwardStaleKeepAlive(t *testing.T) {
	t.Run("one stale connection", func(t *testing.T) {
		srv := newRawServer(t, replyAndClose(okResponse(200, "ok")))
		u := newUpstream(t, Config{Endpoints: endpoints(srv.addr())})
		for i := range 3 {
			r := get(t, u)
			if r.err != nil || r.body != "ok" {
				t.Fatalf("request %d: body %q err %v", i+1, r.body, r.err)
			}
			if r.call.Tries != 1 {
				t.Fatalf("request %d: Tries = %d, the stale retry must be transparent", i+1, r.call.Tries)
			}
			// The peer closes the idle connection before the next request.
			wait(t, srv.serverClosed, "the server to close the connection")
		}
		if got := srv.accepted.Load(); got != 3 {
			t.Fatalf("server accepted %d connections, want 3", got)
		}
		if got := srv.requests.Load(); got != 3 {
			t.Fatalf("server answered %d requests, want 3", got)
		}
	})

	t.Run("all idle connections stale", func(t *testing.T) {
		// Two requests in parallel leave two idle connections; the
		// endpoint then closes both (a restart). The retry must go to a
		// fresh connection, not to the next dead one in the pool.
		var arrived sync.WaitGroup
		arrived.Add(2)
		srv := newRawServer(t, func(_ *rawServer, _ net.Conn, w *bufio.Writer, _ *http.Request, _ []byte, n, _ int) bool {
			w.WriteString(okResponse(200, "ok"))
			if n <= 2 {
				arrived.Done()
				arrived.Wait()
				return false
			}
			return true
		})
		u := newUpstream(t, Config{Endpoints: endpoints(srv.addr())})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() { errs[i] = get(t, u).err })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		wait(t, srv.serverClosed, "the server to close connection 1")
		wait(t, srv.serverClosed, "the server to close connection 2")
		r := get(t, u)
		if r.err != nil || r.body != "ok" {
			t.Fatalf("request after the restart: body %q err %v", r.body, r.err)
		}
		if got := srv.accepted.Load(); got != 3 {
			t.Fatalf("server accepted %d connections, want 3", got)
		}
	})

	t.Run("stale connection with a request body is not replayed", func(t *testing.T) {
		srv := newRawServer(t, replyAndClose(okResponse(200, "ok")))
		u := newUpstream(t, Config{Endpoints: endpoints(srv.addr())})
		if r := get(t, u); r.err != nil {
			t.Fatal(r.err)
		}
		wait(t, srv.serverClosed, "the server to close the connection")
		r := forward(t, u, newRequest("POST", "/", "payload"))
		ue := upstreamError(t, r.err)
		if ue.Code != 502 || ue.Reason != "upstream reset" {
			t.Fatalf("got %d %q, want 502 upstream reset", ue.Code, ue.Reason)
		}
		if got := srv.requests.Load(); got != 1 {
			t.Fatalf("server answered %d requests, want 1", got)
		}
	})
}

func TestForwardReset(t *testing.T) {
	tests := []struct {
		name       string
		retryOn    RetryOn
		second     bool // a healthy second endpoint
		method     string
		body       string
		wantStatus int    // a response, or
		wantCode   int    // an *Error
		wantReason string //
		wantTries  int
		secondReqs int32 // requests the second endpoint answered
	}{
		{name: "GET not retried without reset", second: true, retryOn: RetryConnectFailure | RetryGatewayError, method: "GET", wantCode: 502, wantReason: "upstream reset", wantTries: 1},
		{name: "GET single endpoint", method: "GET", wantCode: 502, wantReason: "upstream reset", wantTries: 1},
		{name: "GET retried on reset", second: true, retryOn: RetryReset, method: "GET", wantStatus: 200, wantTries: 2, secondReqs: 1},
		{name: "DELETE retried on reset", second: true, retryOn: RetryReset, method: "DELETE", wantStatus: 200, wantTries: 2, secondReqs: 1},
		{name: "POST without body not retried", second: true, retryOn: RetryReset, method: "POST", wantCode: 502, wantReason: "upstream reset", wantTries: 1},
		{name: "POST with body not retried", second: true, retryOn: RetryReset, method: "POST", body: "data", wantCode: 502, wantReason: "upstream reset", wantTries: 1},
		{name: "PUT with body not retried", second: true, retryOn: RetryReset, method: "PUT", body: "data", wantCode: 502, wantReason: "upstream reset", wantTries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := newRawServer(t, resetHandler)
			addrs := []string{bad.addr()}
			var good *rawServer
			if tt.second {
				good = newRawServer(t, reply(okResponse(200, "good")))
				addrs = append(addrs, good.addr())
			}
			// Round robin starts with the first endpoint.
			u := newUpstream(t, Config{Endpoints: endpoints(addrs...), RetryAttempts: 1, RetryOn: tt.retryOn})
			r := forward(t, u, newRequest(tt.method, "/", tt.body))
			if r.call.Tries != tt.wantTries {
				t.Errorf("Tries = %d, want %d", r.call.Tries, tt.wantTries)
			}
			if tt.wantCode != 0 {
				ue := upstreamError(t, r.err)
				if ue.Code != tt.wantCode || ue.Reason != tt.wantReason || ue.Endpoint != bad.addr() {
					t.Fatalf("got %d %q from %q, want %d %q from %q", ue.Code, ue.Reason, ue.Endpoint, tt.wantCode, tt.wantReason, bad.addr())
				}
				if r.call.Endpoint != bad.addr() {
					t.Errorf("Call.Endpoint = %q, want %q", r.call.Endpoint, bad.addr())
				}
			} else {
				if r.err != nil || r.status != tt.wantStatus || r.body != "good" {
					t.Fatalf("status %d body %q err %v", r.status, r.body, r.err)
				}
				if r.call.Endpoint != good.addr() {
					t.Errorf("Call.Endpoint = %q, want %q", r.call.Endpoint, good.addr())
				}
			}
			if good != nil {
				if got := good.requests.Load(); got != tt.secondReqs {
					t.Fatalf("second endpoint answered %d requests, want %d", got, tt.secondReqs)
				}
			}
		})
	}
}

func TestForwardTimeout(t *testing.T) {
	tests := []struct {
		name    string
		cfg     time.Duration // Config.Timeout
		ctx     time.Duration // a context deadline, 0 for none
		handler rawHandler
		method  string
		body    string
	}{
		{name: "response timeout", cfg: 100 * time.Millisecond, handler: holdHandler},
		{name: "context deadline", cfg: time.Minute, ctx: 100 * time.Millisecond, handler: holdHandler},
		{name: "POST with body", cfg: 100 * time.Millisecond, handler: holdHandler, method: "POST", body: "x"},
		{name: "body stalls", cfg: 100 * time.Millisecond, handler: func(s *rawServer, nc net.Conn, w *bufio.Writer, _ *http.Request, _ []byte, _, _ int) bool {
			w.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
			w.Flush()
			<-s.stop
			return false
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, tt.handler)
			// Retries are configured but a timeout has no time left for one.
			u := newUpstream(t, Config{Endpoints: endpoints(srv.addr()), Timeout: tt.cfg, RetryAttempts: 1, RetryOn: RetryReset | RetryConnectFailure})
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			method := tt.method
			if method == "" {
				method = "GET"
			}
			resp := new(fasthttp.Response)
			var call Call
			err := u.Forward(ctx, newRequest(method, "/", tt.body), resp, &call)
			ue := upstreamError(t, err)
			if ue.Code != 504 || ue.Reason != "upstream timeout" {
				t.Fatalf("got %d %q (%v), want 504 upstream timeout", ue.Code, ue.Reason, err)
			}
			if ue.Status() != 504 || !isTimeout(err) {
				t.Fatalf("Status() = %d, isTimeout = %v", ue.Status(), isTimeout(err))
			}
		})
	}
}

func TestForwardStreamIdleTimeout(t *testing.T) {
	// A streamed body that stops moving fails the read instead of hanging.
	srv := newRawServer(t, func(s *rawServer, _ net.Conn, w *bufio.Writer, _ *http.Request, _ []byte, _, _ int) bool {
		w.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		w.Flush()
		<-s.stop
		return false
	})
	u := newUpstream(t, Config{Endpoints: endpoints(srv.addr()), Timeout: 100 * time.Millisecond})
	resp := new(fasthttp.Response)
	var call Call
	if err := u.Forward(context.Background(), newRequest("GET", "/", ""), resp, &call); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.BodyStream())
	if string(b) != "hello" || !isTimeout(err) {
		t.Fatalf("read %q, %v; want hello and a timeout", b, err)
	}
	resp.CloseBodyStream()
}

func TestForwardConnectFailure(t *testing.T) {
	tests := []struct {
		name       string
		retryOn    RetryOn
		attempts   int
		second     bool
		method     string
		body       string
		wantCode   int
		wantTries  int
		wantSecond int32
	}{
		{name: "refused, no retry", second: true, method: "GET", wantCode: 502, wantTries: 1},
		{name: "refused, retried", second: true, retryOn: RetryConnectFailure, attempts: 1, method: "GET", wantTries: 2, wantSecond: 1},
		{name: "refused, POST with body retried", second: true, retryOn: RetryConnectFailure, attempts: 1, method: "POST", body: "payload", wantTries: 2, wantSecond: 1},
		{name: "refused, zero attempts", second: true, retryOn: RetryConnectFailure, method: "GET", wantCode: 502, wantTries: 1},
		{name: "refused, single endpoint", retryOn: RetryConnectFailure, attempts: 3, method: "GET", wantCode: 502, wantTries: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dead := refusedAddr(t)
			addrs := []string{dead}
			var good *rawServer
			if tt.second {
				good = newRawServer(t, func(_ *rawServer, _ net.Conn, w *bufio.Writer, _ *http.Request, body []byte, _, _ int) bool {
					w.WriteString(okResponse(200, "got:"+string(body)))
					return true
				})
				addrs = append(addrs, good.addr())
			}
			u := newUpstream(t, Config{Endpoints: endpoints(addrs...), RetryAttempts: tt.attempts, RetryOn: tt.retryOn})
			r := forward(t, u, newRequest(tt.method, "/", tt.body))
			if r.call.Tries != tt.wantTries {
				t.Errorf("Tries = %d, want %d", r.call.Tries, tt.wantTries)
			}
			if tt.wantCode != 0 {
				ue := upstreamError(t, r.err)
				if ue.Code != tt.wantCode || ue.Reason != "connect failure" || ue.Endpoint != dead {
					t.Fatalf("got %d %q at %q, want %d connect failure at %q", ue.Code, ue.Reason, ue.Endpoint, tt.wantCode, dead)
				}
				var ce *connectError
				if !errors.As(r.err, &ce) {
					t.Fatalf("error %v does not wrap a connect error", r.err)
				}
				if !strings.Contains(r.err.Error(), dead) {
					t.Fatalf("error %q does not name the endpoint", r.err)
				}
			} else if r.err != nil || r.status != 200 || r.body != "got:"+tt.body {
				t.Fatalf("status %d body %q err %v", r.status, r.body, r.err)
			}
			if good != nil {
				if got := good.requests.Load(); got != tt.wantSecond {
					t.Fatalf("second endpoint answered %d requests, want %d", got, tt.wantSecond)
				}
			}
		})
	}
}

func TestForwardMaxConnections(t *testing.T) {
	tests := []struct {
		name     string
		retryOn  RetryOn
		second   bool
		wantCode int
	}{
		{name: "limit reached", wantCode: 503},
		{name: "limit reached, other endpoint takes it", retryOn: RetryConnectFailure, second: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			received := make(chan struct{}, 1)
			release := make(chan struct{})
			slow := newRawServer(t, func(s *rawServer, _ net.Conn, w *bufio.Writer, _ *http.Request, _ []byte, _, _ int) bool {
				received <- struct{}{}
				select {
				case <-release:
				case <-s.stop:
				}
				w.WriteString(okResponse(200, "slow"))
				return true
			})
			addrs := []string{slow.addr()}
			if tt.second {
				addrs = append(addrs, newRawServer(t, reply(okResponse(200, "other"))).addr())
			}
			u := newUpstream(t, Config{Endpoints: endpoints(addrs...), MaxConnections: 1, RetryAttempts: 1, RetryOn: tt.retryOn})

			first := make(chan result, 1)
			go func() { first <- get(t, u) }()
			wait(t, received, "the slow endpoint to get the first request")

			// Round robin: turn 1 went to slow, turn 2 goes to other,
			// turn 3 to slow again.
			var r result
			if tt.second {
				r = get(t, u)
				if r.err != nil || r.body != "other" {
					t.Fatalf("second endpoint: %q %v", r.body, r.err)
				}
				r = get(t, u) // slow is full: retried on other
				if r.err != nil || r.body != "other" || r.call.Tries != 2 {
					t.Fatalf("pool-full retry: body %q tries %d err %v", r.body, r.call.Tries, r.err)
				}
			} else {
				r = get(t, u)
				ue := upstreamError(t, r.err)
				if ue.Code != tt.wantCode || ue.Reason != "endpoint connection limit" || !errors.Is(r.err, errPoolFull) {
					t.Fatalf("got %d %q (%v), want %d endpoint connection limit", ue.Code, ue.Reason, r.err, tt.wantCode)
				}
			}
			close(release)
			fr := <-first
			if fr.err != nil || fr.body != "slow" {
				t.Fatalf("held request: body %q err %v", fr.body, fr.err)
			}
			// The connection is free again.
			if r := get(t, u); r.err != nil {
				t.Fatalf("after release: %v", r.err)
			}
			if got := slow.accepted.Load(); got != 1 {
				t.Fatalf("slow endpoint accepted %d connections, want 1", got)
			}
		})
	}
}

// limitedBody is a request body stream of n bytes that counts what was read.
type limitedBody struct {
	r    io.Reader
	read int
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func TestForwardChunkedRequestBodyLimit(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		maxBody int64
		tooBig  bool
	}{
		{name: "under the limit", size: 100, maxBody: 1000},
		{name: "at the limit", size: 1000, maxBody: 1000},
		{name: "one over the limit", size: 1001, maxBody: 1000, tooBig: true},
		{name: "far over the limit", size: 1 << 20, maxBody: 1000, tooBig: true},
		{name: "over the limit in a later read", size: 100 << 10, maxBody: 40 << 10, tooBig: true},
		{name: "no limit", size: 100 << 10, maxBody: 0},
		{name: "empty", size: 0, maxBody: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, func(_ *rawServer, _ net.Conn, w *bufio.Writer, req *http.Request, body []byte, _, _ int) bool {
				te := strings.Join(req.TransferEncoding, ",")
				w.WriteString(okResponse(200, te+":"+itoa(len(body))))
				return true
			})
			u := newUpstream(t, Config{Endpoints: endpoints(srv.addr()), RetryAttempts: 1, RetryOn: RetryReset | RetryConnectFailure})
			req := newRequest("POST", "/upload", "")
			body := &limitedBody{r: strings.NewReader(pattern(tt.size))}
			req.SetBodyStream(body, -1)
			resp := new(fasthttp.Response)
			call := Call{MaxBody: tt.maxBody}
			err := u.Forward(context.Background(), req, resp, &call)
			if tt.tooBig {
				ue := upstreamError(t, err)
				if ue.Code != 413 || !errors.Is(err, ErrBodyTooLarge) || call.Tries != 1 {
					t.Fatalf("got %d %q tries %d (%v), want 413 after 1 try", ue.Code, ue.Reason, call.Tries, err)
				}
				if int64(body.read) > tt.maxBody+16<<10 {
					t.Fatalf("read %d bytes of the body, want to stop soon after %d", body.read, tt.maxBody)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := "chunked:" + itoa(tt.size)
			if got := string(resp.Body()); got != want {
				t.Fatalf("server saw %q, want %q", got, want)
			}
		})
	}
}

func itoa(n int) string {
	return string(fasthttp.AppendUint(nil, n))
}

func TestForwardStatusRetry(t *testing.T) {
	tests := []struct {
		name       string
		retryOn    RetryOn
		firstReply string
		method     string
		body       string
		wantStatus int
		wantBody   string
		wantTries  int
	}{
		{name: "503 then 200", retryOn: RetryGatewayError, firstReply: okResponse(503, "busy"), method: "GET", wantStatus: 200, wantBody: "good", wantTries: 2},
		{name: "502 then 200", retryOn: RetryGatewayError, firstReply: okResponse(502, "bad"), method: "GET", wantStatus: 200, wantBody: "good", wantTries: 2},
		{name: "504 streamed body then 200", retryOn: RetryGatewayError, firstReply: okResponse(504, pattern(5000)), method: "GET", wantStatus: 200, wantBody: "good", wantTries: 2},
		{name: "503 chunked then 200", retryOn: RetryGatewayError, firstReply: "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\n0\r\n\r\n", method: "GET", wantStatus: 200, wantBody: "good", wantTries: 2},
		{name: "500 not a gateway error", retryOn: RetryGatewayError, firstReply: okResponse(500, "oops"), method: "GET", wantStatus: 500, wantBody: "oops", wantTries: 1},
		{name: "500 with 5xx", retryOn: Retry5xx, firstReply: okResponse(500, "oops"), method: "GET", wantStatus: 200, wantBody: "good", wantTries: 2},
		{name: "503 not retried without condition", retryOn: RetryConnectFailure | RetryReset, firstReply: okResponse(503, "busy"), method: "GET", wantStatus: 503, wantBody: "busy", wantTries: 1},
		{name: "POST with body not retried", retryOn: RetryGatewayError | Retry5xx, firstReply: okResponse(503, "busy"), method: "POST", body: "data", wantStatus: 503, wantBody: "busy", wantTries: 1},
		{name: "POST without body not retried", retryOn: RetryGatewayError, firstReply: okResponse(503, "busy"), method: "POST", wantStatus: 503, wantBody: "busy", wantTries: 1},
		{name: "404 not retried", retryOn: Retry5xx | RetryGatewayError, firstReply: okResponse(404, "nope"), method: "GET", wantStatus: 404, wantBody: "nope", wantTries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := newRawServer(t, reply(tt.firstReply))
			second := newRawServer(t, reply(okResponse(200, "good")))
			u := newUpstream(t, Config{Endpoints: endpoints(first.addr(), second.addr()), RetryAttempts: 1, RetryOn: tt.retryOn, MaxBufferedBody: testMaxBuffered})
			r := forward(t, u, newRequest(tt.method, "/", tt.body))
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.status != tt.wantStatus || r.body != tt.wantBody || r.call.Tries != tt.wantTries {
				t.Fatalf("got %d %q after %d tries, want %d %q after %d", r.status, r.body, r.call.Tries, tt.wantStatus, tt.wantBody, tt.wantTries)
			}
		})
	}

	t.Run("every endpoint fails: last answer returned whole", func(t *testing.T) {
		a := newRawServer(t, reply(okResponse(503, "a-busy")))
		big := pattern(5000)
		b := newRawServer(t, reply(okResponse(503, big)))
		u := newUpstream(t, Config{Endpoints: endpoints(a.addr(), b.addr()), RetryAttempts: 3, RetryOn: RetryGatewayError, MaxBufferedBody: testMaxBuffered})
		r := get(t, u)
		if r.err != nil || r.status != 503 || r.call.Tries != 4 {
			t.Fatalf("status %d tries %d err %v, want 503 after 4 tries", r.status, r.call.Tries, r.err)
		}
		if r.body != big {
			t.Fatalf("body of the last answer: %d bytes, want %d", len(r.body), len(big))
		}
		// Buffered answers leave their connections reusable.
		if got := a.accepted.Load(); got != 1 {
			t.Fatalf("first endpoint accepted %d connections, want 1", got)
		}
	})
}

func TestForwardProtocolErrors(t *testing.T) {
	tests := []struct {
		name       string
		handler    rawHandler
		wantReason string
	}{
		{name: "garbage status line", handler: replyAndClose("HTTZ/1.1 two hundred\r\n\r\n"), wantReason: "invalid upstream response"},
		{name: "no response", handler: func(*rawServer, net.Conn, *bufio.Writer, *http.Request, []byte, int, int) bool { return false }, wantReason: "upstream reset"},
		{name: "truncated buffered body", handler: replyAndClose("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"), wantReason: "upstream reset"},
		{name: "truncated head", handler: replyAndClose("HTTP/1.1 200 OK\r\nContent-Len"), wantReason: "upstream reset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, tt.handler)
			u := newUpstream(t, Config{Endpoints: endpoints(srv.addr())})
			r := get(t, u)
			ue := upstreamError(t, r.err)
			if ue.Code != 502 || ue.Reason != tt.wantReason {
				t.Fatalf("got %d %q (%v), want 502 %q", ue.Code, ue.Reason, r.err, tt.wantReason)
			}
		})
	}

	t.Run("bad chunk in a streamed body", func(t *testing.T) {
		srv := newRawServer(t, func(_ *rawServer, _ net.Conn, w *bufio.Writer, _ *http.Request, _ []byte, n, _ int) bool {
			if n == 1 {
				w.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXXzz\r\n")
				return true
			}
			w.WriteString(okResponse(200, "ok"))
			return true
		})
		u := newUpstream(t, Config{Endpoints: endpoints(srv.addr())})
		resp := new(fasthttp.Response)
		var call Call
		if err := u.Forward(context.Background(), newRequest("GET", "/", ""), resp, &call); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.BodyStream())
		if string(b) != "hello" || !errors.Is(err, errBadChunk) {
			t.Fatalf("read %q, %v; want hello then a chunk error", b, err)
		}
		resp.CloseBodyStream()
		if r := get(t, u); r.err != nil || r.body != "ok" {
			t.Fatalf("next request: %q %v", r.body, r.err)
		}
		if got := srv.accepted.Load(); got != 2 {
			t.Fatalf("accepted %d connections, want 2 (the broken one is not reused)", got)
		}
	})
}

func TestClose(t *testing.T) {
	t.Run("idle connections closed", func(t *testing.T) {
		srv := newRawServer(t, reply(okResponse(200, "ok")))
		u, err := New(Config{Name: "c", Endpoints: endpoints(srv.addr())})
		if err != nil {
			t.Fatal(err)
		}
		if r := get(t, u); r.err != nil {
			t.Fatal(r.err)
		}
		u.Close()
		wait(t, srv.peerClosed, "the server to see EOF on the idle connection")
		u.Close() // idempotent
		checkAccounting(t, u)
		r := get(t, u)
		if ue := upstreamError(t, r.err); ue.Code != 502 {
			t.Fatalf("Forward after Close: %d %q", ue.Code, ue.Reason)
		}
		checkAccounting(t, u)
	})

	t.Run("busy connection closed when released", func(t *testing.T) {
		large := pattern(100 << 10)
		srv := newRawServer(t, reply(okResponse(200, large)))
		u, err := New(Config{Name: "c", Endpoints: endpoints(srv.addr()), MaxBufferedBody: testMaxBuffered})
		if err != nil {
			t.Fatal(err)
		}
		resp := new(fasthttp.Response)
		var call Call
		if err := u.Forward(context.Background(), newRequest("GET", "/", ""), resp, &call); err != nil {
			t.Fatal(err)
		}
		u.Close()
		// The stream still works after Close.
		b, err := io.ReadAll(resp.BodyStream())
		if err != nil || string(b) != large {
			t.Fatalf("read %d bytes, %v", len(b), err)
		}
		resp.CloseBodyStream()
		wait(t, srv.peerClosed, "the server to see EOF after the stream closed")
		checkAccounting(t, u)
	})
}

func TestNewAndParse(t *testing.T) {
	if _, err := New(Config{Name: "none"}); err == nil {
		t.Fatal("New without endpoints succeeded")
	}
	if _, err := New(Config{Name: "bad", Balancer: "no-such-algorithm", Endpoints: endpoints("127.0.0.1:1")}); err == nil {
		t.Fatal("New with an unknown balancer succeeded")
	}
	// A tiny idle timeout must not break the janitor.
	u, err := New(Config{Name: "tiny", Endpoints: endpoints("127.0.0.1:1"), IdleTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	u.Close()

	tests := []struct {
		names []string
		want  RetryOn
		bad   bool
	}{
		{names: nil, want: 0},
		{names: []string{"connect-failure"}, want: RetryConnectFailure},
		{names: []string{"reset", "gateway-error", "5xx"}, want: RetryReset | RetryGatewayError | Retry5xx},
		{names: []string{"connect-failure", "connect-failure"}, want: RetryConnectFailure},
		{names: []string{"timeout"}, bad: true},
		{names: []string{"Reset"}, bad: true},
	}
	for _, tt := range tests {
		got, err := ParseRetryOn(tt.names)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseRetryOn(%q) = %v, %v", tt.names, got, err)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := newRawServer(t, reply(okResponse(200, "ok")))
	u := newUpstream(t, Config{Endpoints: endpoints(srv.addr()), IdleTimeout: 50 * time.Millisecond})
	if r := get(t, u); r.err != nil {
		t.Fatal(r.err)
	}
	// The janitor (or the next acquire) closes the expired connection.
	wait(t, srv.peerClosed, "the idle connection to be closed")
	if r := get(t, u); r.err != nil || r.body != "ok" {
		t.Fatalf("after expiry: %q %v", r.body, r.err)
	}
	if got := srv.accepted.Load(); got != 2 {
		t.Fatalf("accepted %d connections, want 2", got)
	}
}

func TestForwardRequestConnectionClose(t *testing.T) {
	srv := newRawServer(t, func(_ *rawServer, _ net.Conn, w *bufio.Writer, req *http.Request, _ []byte, _, _ int) bool {
		w.WriteString(okResponse(200, "ok"))
		return !req.Close
	})
	u := newUpstream(t, Config{Endpoints: endpoints(srv.addr())})
	for range 3 {
		req := newRequest("GET", "/", "")
		req.Header.SetConnectionClose()
		if r := forward(t, u, req); r.err != nil || r.body != "ok" {
			t.Fatalf("%q %v", r.body, r.err)
		}
	}
	if got := srv.accepted.Load(); got != 3 {
		t.Fatalf("accepted %d connections, want 3", got)
	}
}

// TestForwardConcurrent mixes buffered, streamed, chunked and partially read
// bodies from several goroutines; run with -race. Every body must arrive
// whole and the pool must balance.
func TestForwardConcurrent(t *testing.T) {
	small, large := pattern(500), pattern(64<<10)
	srv := newRawServer(t, func(_ *rawServer, _ net.Conn, w *bufio.Writer, req *http.Request, _ []byte, _, _ int) bool {
		switch req.URL.Path {
		case "/small":
			w.WriteString(okResponse(200, small))
		case "/large":
			w.WriteString(okResponse(200, large))
		default:
			w.WriteString(chunkedResponse(large, 3000))
		}
		return true
	})
	const workers, each = 6, 20
	u := newUpstream(t, Config{Endpoints: endpoints(srv.addr()), MaxBufferedBody: testMaxBuffered, MaxConnections: workers})
	paths := []string{"/small", "/large", "/chunked", "/partial"}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			resp := new(fasthttp.Response)
			for i := range each {
				path := paths[(w+i)%len(paths)]
				var call Call
				err := u.Forward(context.Background(), newRequest("GET", path, ""), resp, &call)
				if err != nil {
					errs <- err
					return
				}
				want := large
				if path == "/small" {
					want = small
				}
				var got []byte
				if path == "/partial" {
					got = make([]byte, 100)
					_, err = io.ReadFull(resp.BodyStream(), got)
					want = large[:100]
				} else if resp.IsBodyStream() {
					got, err = io.ReadAll(resp.BodyStream())
				} else {
					got = resp.Body()
				}
				resp.CloseBodyStream()
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("%s: %d bytes, %v", path, len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkAccounting(t, u)
}
