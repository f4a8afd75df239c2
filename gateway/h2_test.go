package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// benchRW is a minimal http.ResponseWriter (with Flush) standing in for
// the HTTP/2 server's, so the benchmarks measure the adapter alone.
type benchRW struct {
	h      http.Header
	status int
	n      int
}

func (w *benchRW) Header() http.Header         { return w.h }
func (w *benchRW) WriteHeader(s int)           { w.status = s }
func (w *benchRW) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *benchRW) Flush()                      {}

// newH2BenchRequest is what the HTTP/2 server hands the handler for an
// h2load request.
func newH2BenchRequest() *http.Request {
	hr, _ := http.NewRequest(http.MethodGet, "https://bench.example/bench?x=1", http.NoBody)
	hr.RequestURI = "/bench?x=1"
	hr.Proto, hr.ProtoMajor, hr.ProtoMinor = "HTTP/2.0", 2, 0
	hr.RemoteAddr = "127.0.0.1:40000"
	hr.Header = http.Header{
		"User-Agent":      {"h2load nghttp2/1.59.0"},
		"Accept":          {"*/*"},
		"Accept-Encoding": {"gzip, deflate"},
	}
	return hr
}

func serveH2Once(f *httpFront, w *benchRW, hr *http.Request) {
	clear(w.h)
	w.status, w.n = 0, 0
	f.ServeHTTP(w, hr)
}

// TestH2AdapterAllocs guards the per-request allocations of the HTTP/2
// adapter around the (allocation-free) request path: the response header
// map net/http needs costs a few, independent of the number of fields.
func TestH2AdapterAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector; run without -race")
	}
	l := newBenchListener(t, fixedBackend(t))
	f := &httpFront{l: l, proto: exchange.HTTP2}
	w := &benchRW{h: http.Header{}}
	hr := newH2BenchRequest()
	for range 100 {
		serveH2Once(f, w, hr)
	}
	if w.status != 200 || w.n != 1024 {
		t.Fatalf("warm-up: %d, %d bytes", w.status, w.n)
	}
	if got := w.h.Get("Content-Length"); got != "1024" {
		t.Fatalf("Content-Length %q", got)
	}
	allocs := testing.AllocsPerRun(500, func() { serveH2Once(f, w, hr) })
	if allocs > 4 {
		t.Fatalf("h2 adapter: %v allocs per request, want <= 4", allocs)
	}
}

func BenchmarkH2Adapter(b *testing.B) {
	l := newBenchListener(b, fixedBackend(b))
	f := &httpFront{l: l, proto: exchange.HTTP2}
	w := &benchRW{h: http.Header{}}
	hr := newH2BenchRequest()
	b.ReportAllocs()
	for b.Loop() {
		serveH2Once(f, w, hr)
	}
}

// TestWriteHTTPResponseHeaders: fields are copied with canonical names,
// hop-by-hop framing fields dropped, Content-Length set from the body.
func TestWriteHTTPResponseHeaders(t *testing.T) {
	var s httpState
	resp := &s.resp
	resp.SetStatusCode(201)
	resp.Header.DisableNormalizing()
	resp.Header.Set("content-type", "text/plain")
	resp.Header.Add("x-multi", "a")
	resp.Header.Add("X-Multi", "b")
	resp.Header.Set("Connection", "close")
	resp.Header.Set("cache-control", "no-store")
	resp.Header.Set("X-Odd_Name", "v")
	resp.SetBodyString("hello")
	w := &benchRW{h: http.Header{}}
	s.writeHTTPResponse(w, resp, false)
	if w.status != 201 || w.n != 5 {
		t.Fatalf("status %d, %d bytes", w.status, w.n)
	}
	want := http.Header{
		"Content-Type":   {"text/plain"},
		"X-Multi":        {"a", "b"},
		"Cache-Control":  {"no-store"},
		"X-Odd_name":     {"v"},
		"Content-Length": {"5"},
	}
	for k, v := range want {
		if got := w.h[k]; strings.Join(got, "|") != strings.Join(v, "|") {
			t.Errorf("%s: %q, want %q (all: %v)", k, got, v, w.h)
		}
	}
	if len(w.h) != len(want) {
		t.Errorf("fields %v, want %v", w.h, want)
	}
}

// TestBatchConnOrderAndClose: concurrent writers' bytes arrive whole and in
// each writer's order, and Close sends what is still pending.
func TestBatchConnOrderAndClose(t *testing.T) {
	a, b := net.Pipe()
	bc := newBatchConn(a)
	bc.setAsync()
	got := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(b)
		got <- all
	}()
	var wg sync.WaitGroup
	const writers, per = 4, 200
	for i := range writers {
		wg.Go(func() {
			for j := range per {
				msg := []byte{byte('a' + i), byte(j), '\n'}
				if _, err := bc.Write(msg); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := bc.Write(bytes.Repeat([]byte("z"), batchMaxPending+10)); err != nil {
		t.Fatal(err)
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	all := <-got
	if len(all) != writers*per*3+batchMaxPending+10 {
		t.Fatalf("got %d bytes", len(all))
	}
	next := make([]int, writers)
	for i := 0; i < writers*per*3; i += 3 {
		w := int(all[i] - 'a')
		if w < 0 || w >= writers || int(all[i+1]) != next[w]%256 || all[i+2] != '\n' {
			t.Fatalf("out of order or torn at %d: %q", i, all[i:i+3])
		}
		next[w]++
	}
}

// TestBatchConnErrorSticks: once the peer is gone, Write fails rather than
// buffering forever.
func TestBatchConnErrorSticks(t *testing.T) {
	a, b := net.Pipe()
	bc := newBatchConn(a)
	bc.setAsync()
	_ = b.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := bc.Write([]byte("x")); err != nil {
			_ = bc.Close()
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("Write kept succeeding on a closed peer")
}

// TestBatchConnPassthrough: before setAsync, writes go straight through
// (a TLS handshake on the same connection relies on it).
func TestBatchConnPassthrough(t *testing.T) {
	a, b := net.Pipe()
	bc := newBatchConn(a)
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 3)
		_, _ = io.ReadFull(b, buf)
		close(done)
	}()
	if _, err := bc.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	<-done // Write returned only after the peer read: synchronous
	_ = bc.Close()
	_ = b.Close()
}

// TestH2NoInventedContentType: over h2c (through batchConn and net/http's
// HTTP/2 server) a body the upstream sent without Content-Type arrives
// without one, and the upstream's own fields arrive intact.
func TestH2NoInventedContentType(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		NoDefaultContentType: true,
		NoDefaultDate:        true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set("X-Upstream", "yes")
			ctx.Response.Header.Add("Set-Cookie", "a=1")
			ctx.Response.Header.Add("Set-Cookie", "b=2")
			ctx.SetBodyString("<html>not sniffed</html>")
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { _ = srv.Shutdown() })
	src := `
listener "web" {
  address  = "127.0.0.1:0"
  http2    = true
  upstream = "u"
}
` + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", ln.Addr()))
	_, addr := startTLSGateway(t, src, Options{})
	c := h2cClient()
	for range 3 {
		resp, body := get(t, c, "http://"+addr+"/")
		if resp.ProtoMajor != 2 || string(body) != "<html>not sniffed</html>" {
			t.Fatalf("%s %q", resp.Proto, body)
		}
		if ct, ok := resp.Header["Content-Type"]; ok {
			t.Fatalf("invented Content-Type %q", ct)
		}
		if resp.Header.Get("X-Upstream") != "yes" || strings.Join(resp.Header["Set-Cookie"], ",") != "a=1,b=2" {
			t.Fatalf("fields: %v", resp.Header)
		}
		if resp.Header.Get("Content-Length") != "24" {
			t.Fatalf("Content-Length %q", resp.Header.Get("Content-Length"))
		}
	}
}
