package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// headerStage is a native chain stage used by the tests: it rejects requests
// without x-token, picks the upstream from x-pick, tags the request and the
// response.
type headerStage struct{ name string }

func (s *headerStage) OnRequest(_ context.Context, x *exchange.Exchange) (chain.Action, error) {
	if s.name == "first" && !x.Request.Header.Has("x-token") {
		x.SendLocal(401, []byte("token required\n"))
		x.Response.Header.Set("www-authenticate", `Key realm="test"`)
		return chain.Stop, nil
	}
	if v, ok := x.Request.Header.Get("x-pick"); ok {
		x.Upstream = v
	}
	if x.Request.Header.Has("x-trap") {
		return chain.Continue, errors.New("stage trapped")
	}
	x.Request.Header.Del("x-token")
	x.Request.Header.Add("x-stage", s.name)
	return chain.Continue, nil
}

func (s *headerStage) OnResponse(_ context.Context, x *exchange.Exchange) error {
	x.Response.Header.Add("x-stage-resp", s.name)
	return nil
}

func (s *headerStage) Done(*exchange.Exchange) {}

func nativeStages(sc *conf.Stage) (chain.Filter, error) {
	if strings.HasPrefix(sc.Module, "builtin:test-") {
		return &headerStage{name: sc.Name}, nil
	}
	return nil, nil
}

func TestChainThroughGateway(t *testing.T) {
	be := startEcho(t, "one", "two")
	src := `
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "c"
  upstream = "one"
}
chain "c" {
  filter "first"  { module = "builtin:test-a" }
  filter "second" {
    module = "builtin:test-b"
    fail   = "open"
  }
}
` + upstreamHCL("one", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr())) +
		upstreamHCL("two", "round_robin", "", fmt.Sprintf("%q {}", be[1].Addr()))
	_, url := startGateway(t, src, Options{NativeFilter: nativeStages})
	c := newClient()

	resp, body := get(t, c, url+"/")
	if resp.StatusCode != 401 || resp.Header.Get("Www-Authenticate") == "" || string(body) != "token required\n" {
		t.Fatalf("missing token: %d %q %q", resp.StatusCode, resp.Header.Get("Www-Authenticate"), body)
	}
	if resp.Header.Get("X-Backend") != "" {
		t.Fatal("the upstream must not see a stopped request")
	}

	resp, body = get(t, c, url+"/", "X-Token", "t", "X-Pick", "two")
	r := echoReply(t, body)
	if r.Backend != "two" {
		t.Fatalf("stage-selected upstream: got %q", r.Backend)
	}
	if _, leaked := r.Headers["x-token"]; leaked {
		t.Fatal("a header the stage removed reached the upstream")
	}
	if got := strings.Join(r.Headers["x-stage"], ","); got != "first,second" {
		t.Fatalf("request stages in order: %q", got)
	}
	if got := strings.Join(resp.Header.Values("X-Stage-Resp"), ","); got != "second,first" {
		t.Fatalf("response stages in reverse: %q", got)
	}

	resp, _ = get(t, c, url+"/", "X-Token", "t", "X-Pick", "nope")
	if resp.StatusCode != 503 {
		t.Fatalf("unknown upstream chosen by a stage: %d, want 503", resp.StatusCode)
	}

	// The first stage fails closed (500); concurrent good requests are fine.
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			hdr := []string{"X-Token", "t"}
			if i%2 == 0 {
				hdr = append(hdr, "X-Trap", "1")
			}
			resp, _ := get(t, c, url+"/", hdr...)
			want := 200
			if i%2 == 0 {
				want = 500
			}
			if resp.StatusCode != want {
				bad.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d requests got the wrong status with a failing stage", bad.Load())
	}
}

// patternReader yields n bytes without holding them.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	for i := range b {
		b[i] = 'x'
	}
	p.left -= int64(len(b))
	return len(b), nil
}

// heapWatch samples the live heap until stopped and reports its peak.
func heapWatch() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

func TestStreaming100MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 400 MiB through loopback")
	}
	be := startEcho(t, "big")
	src := fmt.Sprintf(webListener, `max_body_size = "1GiB"`) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, url := startGateway(t, src, Options{})
	c := newClient()
	const size = 100 << 20
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := heapWatch()

	for _, chunked := range []bool{false, true} {
		// Upload: the backend counts what it received.
		var body io.Reader = &patternReader{left: size}
		req, _ := http.NewRequest(http.MethodPost, url+"/upload", body)
		if !chunked {
			req.ContentLength = size
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || echoReply(t, b).BodyBytes != size {
			t.Fatalf("upload (chunked=%v): %d %s", chunked, resp.StatusCode, b)
		}
		// Download.
		hdr := []string{"X-Echo-Size", fmt.Sprint(size)}
		if chunked {
			hdr = append(hdr, "X-Echo-Chunked", "1")
		}
		dreq, _ := http.NewRequest(http.MethodGet, url+"/download", nil)
		for i := 0; i < len(hdr); i += 2 {
			dreq.Header.Set(hdr[i], hdr[i+1])
		}
		dresp, err := c.Do(dreq)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, dresp.Body)
		dresp.Body.Close()
		if err != nil || n != size || dresp.StatusCode != 200 {
			t.Fatalf("download (chunked=%v): %d bytes, status %d, err %v", chunked, n, dresp.StatusCode, err)
		}
	}
	peak := stop()
	grew := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap in use: base %d MiB, peak %d MiB", base.HeapInuse>>20, peak>>20)
	// Client, gateway and backend share this process; 400 MiB moved. Holding
	// even one body whole would add 100 MiB.
	if grew > 48<<20 {
		t.Fatalf("heap grew by %d MiB while streaming 100 MiB bodies; bodies are being held whole", grew>>20)
	}
}

func TestReload(t *testing.T) {
	be := startEcho(t, "old", "new")
	mk := func(addr string) *conf.Config {
		src := `listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  upstream = "u"
}
` + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", addr))
		cfg, diags := conf.Parse(map[string][]byte{"r.hcl": []byte(src)}, t.TempDir())
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg
	}
	gw := New(Options{})
	first := mk(be[0].Addr())
	if err := gw.Start(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	defer gw.Shutdown(context.Background())
	url := "http://" + gw.Addr("web").String()
	c := newClient()
	if resp, _ := get(t, c, url); resp.Header.Get("X-Backend") != "old" {
		t.Fatal("before reload")
	}
	// The same listener address keeps its socket across reloads. Pin it.
	second := mk(be[1].Addr())
	second.Listeners[0].Address = gw.Addr("web").String()
	first.Listeners[0].Address = second.Listeners[0].Address
	gw.mu.Lock()
	for addr, l := range gw.listeners {
		delete(gw.listeners, addr)
		l.addr = second.Listeners[0].Address
		gw.listeners[l.addr] = l
	}
	gw.mu.Unlock()

	// A config that cannot be built is rejected and the old one serves on.
	bad := mk(be[1].Addr())
	bad.Listeners[0].Address = second.Listeners[0].Address
	bad.Upstreams[0].Balancer = "no_such_balancer"
	if err := gw.Reload(context.Background(), bad); err == nil {
		t.Fatal("a config that cannot be built must be rejected")
	}
	if resp, _ := get(t, c, url); resp.Header.Get("X-Backend") != "old" {
		t.Fatal("a rejected reload must keep the old config serving")
	}
	if err := gw.Reload(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, c, url); resp.Header.Get("X-Backend") != "new" {
		t.Fatal("after reload the new upstream serves")
	}
}

func TestShutdownDrains(t *testing.T) {
	be := startEcho(t, "slow")
	src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	cfg, diags := conf.Parse(map[string][]byte{"d.hcl": []byte(src)}, t.TempDir())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	gw := New(Options{})
	if err := gw.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	url := "http://" + gw.Addr("web").String()
	got := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Echo-Delay", "500ms")
		resp, err := newClient().Do(req)
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	time.Sleep(150 * time.Millisecond) // let the request reach the backend
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if st := <-got; st != 200 {
		t.Fatalf("in-flight request during shutdown: %d, want 200", st)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestBindErrorIsDiagnostic(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	be := startEcho(t, "x")
	src := fmt.Sprintf(`listener "web" {
  address  = %q
  protocol = "http"
  upstream = "u"
}
`, ln.Addr().String()) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	cfg, diags := conf.Parse(map[string][]byte{"bind.hcl": []byte(src)}, t.TempDir())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	err = New(Options{}).Start(context.Background(), cfg)
	var be2 *BindError
	if !errors.As(err, &be2) {
		t.Fatalf("want a BindError, got %v", err)
	}
	d := be2.Diagnostic()
	if d.Subject == nil || d.Subject.Filename != "bind.hcl" || d.Subject.Start.Line != 2 {
		t.Fatalf("diagnostic must point at bind.hcl line 2: %+v", d.Subject)
	}
}

// fixedBackend is an allocation-free fasthttp backend answering 1 KiB.
func fixedBackend(t testing.TB) string {
	body := []byte(strings.Repeat("x", 1024))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go srv.Serve(ln)
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// newBenchListener builds a gateway listener whose handler the benchmarks
// and the allocation guard call directly, forwarding to a real backend.
func newBenchListener(t testing.TB, backend string) *h1Listener {
	src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", backend))
	gw, _ := startGateway(t, src, Options{})
	for _, l := range gw.listeners {
		return l
	}
	t.Fatal("no listener")
	return nil
}

func newBenchCtx() (*fasthttp.RequestCtx, *fasthttp.Request) {
	var tmpl fasthttp.Request
	tmpl.Header.SetMethod("GET")
	tmpl.SetRequestURI("/bench?x=1")
	tmpl.Header.SetHost("bench.example")
	tmpl.Header.Set("User-Agent", "bench")
	tmpl.Header.Set("Accept", "*/*")
	tmpl.Header.Set("X-Forwarded-For", "198.51.100.1")
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	return ctx, &tmpl
}

func serveOnce(l *h1Listener, ctx *fasthttp.RequestCtx, tmpl *fasthttp.Request) {
	tmpl.Header.CopyTo(&ctx.Request.Header)
	ctx.Response.Reset()
	l.handle(ctx)
}

// TestH1PathAllocatesNothing guards the steady-state proxy path: exchange,
// picker, forward over a kept-alive connection, response.
func TestH1PathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector; run without -race")
	}
	l := newBenchListener(t, fixedBackend(t))
	ctx, tmpl := newBenchCtx()
	for i := 0; i < 100; i++ {
		serveOnce(l, ctx, tmpl)
	}
	if ctx.Response.StatusCode() != 200 || len(ctx.Response.Body()) != 1024 {
		t.Fatalf("warm-up: %d, %d bytes", ctx.Response.StatusCode(), len(ctx.Response.Body()))
	}
	allocs := testing.AllocsPerRun(500, func() { serveOnce(l, ctx, tmpl) })
	if allocs != 0 {
		t.Fatalf("h1 proxy path: %v allocs per request, want 0", allocs)
	}
}

func BenchmarkH1Proxy(b *testing.B) {
	l := newBenchListener(b, fixedBackend(b))
	ctx, tmpl := newBenchCtx()
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(l, ctx, tmpl)
	}
}

// TestReadHeaderTimeout: a client that never finishes its request head is
// disconnected after read_header_timeout, not held forever.
func TestReadHeaderTimeout(t *testing.T) {
	be := startEcho(t, "x")
	src := fmt.Sprintf(webListener, `read_header_timeout = "200ms"`) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, url := startGateway(t, src, Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: slow\r\nX-Partial: ")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the gateway kept an unfinished request head open past read_header_timeout")
	}
	if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408") && !strings.HasPrefix(string(b), "HTTP/1.1 400") {
		t.Fatalf("unexpected answer to a timed-out head: %q", b)
	}
}
