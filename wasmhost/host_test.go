package wasmhost_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/wasmhost"
)

func readWasm(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// syncBuffer collects log output from any goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	host *wasmhost.Host
	logs *syncBuffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	logs := &syncBuffer{}
	h, err := wasmhost.NewHost(wasmhost.HostConfig{
		CompilationCacheDir: filepath.Join(os.TempDir(), "wasmhost-test-cache"),
		Logger:              slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return &env{host: h, logs: logs}
}

func (e *env) load(t testing.TB, cfg wasmhost.PluginConfig) *wasmhost.Plugin {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	if cfg.Wasm == nil {
		cfg.Wasm = readWasm(t, "filter")
	}
	if cfg.VMID == "" {
		cfg.VMID = "vm1"
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 1
	}
	p, err := e.host.Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func (e *env) metric(name string) (wasmhost.Metric, bool) {
	for m := range e.host.Metrics() {
		if m.Name == name {
			return m, true
		}
	}
	return wasmhost.Metric{}, false
}

// waitFor polls cond for up to 10 s; the bound only protects against hangs.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// requestHeaders runs context creation and request headers on a new stream.
func requestHeaders(t testing.TB, ctx context.Context, p *wasmhost.Plugin, s *stream) (*wasmhost.HTTPContext, wasmhost.Action, error) {
	t.Helper()
	c, err := p.NewHTTPContext(ctx, s)
	if err != nil {
		return c, 0, err
	}
	a, err := c.OnRequestHeaders(ctx, true)
	return c, a, err
}

func TestLoadErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		cfg  wasmhost.PluginConfig
		want error
	}{
		{"garbage", wasmhost.PluginConfig{Wasm: []byte("not wasm")}, wasmhost.ErrInvalidModule},
		{"no abi marker", wasmhost.PluginConfig{Wasm: readWasm(t, "noabi")}, wasmhost.ErrNoABIMarker},
		{"abi 0.1.0", wasmhost.PluginConfig{Wasm: readWasm(t, "abi010")}, wasmhost.ErrUnsupportedABI},
		{"no allocator", wasmhost.PluginConfig{Wasm: readWasm(t, "noalloc")}, wasmhost.ErrNoAllocator},
		{"unknown import", wasmhost.PluginConfig{Wasm: readWasm(t, "badimport")}, wasmhost.ErrUnresolvedImport},
		{"start traps", wasmhost.PluginConfig{Wasm: readWasm(t, "starttrap")}, wasmhost.ErrStartFailed},
		{"vm start refuses", wasmhost.PluginConfig{Wasm: readWasm(t, "filter"), VMConfig: []byte("fail")}, wasmhost.ErrVMStartFailed},
		{"configure refuses", wasmhost.PluginConfig{Wasm: readWasm(t, "filter"), PluginConfig: []byte("fail")}, wasmhost.ErrConfigureFailed},
		{"memory limit too big", wasmhost.PluginConfig{Wasm: readWasm(t, "filter"), MemoryLimitPages: 1 << 20}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Name, tt.cfg.PoolSize = tt.name, 2
			p, err := e.host.Load(context.Background(), tt.cfg)
			if err == nil {
				_ = p.Close(context.Background())
				t.Fatal("Load succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHeadersRoundTrip(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{})
	ctx := context.Background()
	s := newStream("x-in", "hello")
	c, a, err := requestHeaders(t, ctx, p, s)
	if err != nil || a != wasmhost.ActionContinue {
		t.Fatalf("request headers: %v %v", a, err)
	}
	s.respond()
	if a, err := c.OnResponseHeaders(ctx, true); err != nil || a != wasmhost.ActionContinue {
		t.Fatalf("response headers: %v %v", a, err)
	}
	c.Done(ctx)
	if got := s.resp("x-out"); got != "hello" {
		t.Fatalf("x-out = %q, want hello", got)
	}
	if m, _ := e.metric("requests_total"); m.Value != 1 || m.Type != wasmhost.Counter {
		t.Errorf("requests_total = %+v", m)
	}
	if m, _ := e.metric("active"); m.Value != 0 || m.Type != wasmhost.Gauge {
		t.Errorf("active = %+v (on_done must have run)", m)
	}
	logs := e.logs.String()
	for _, want := range []string{"msg=configured", "msg=\"hello from wasi\"", "stream=stdout"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

func TestLocalResponse(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{})
	s := newStream("x-mode", "local")
	c, a, err := requestHeaders(t, context.Background(), p, s)
	if err != nil || a != wasmhost.ActionStop {
		t.Fatalf("got %v %v, want stop", a, err)
	}
	defer c.Done(context.Background())
	want := wasmhost.LocalResponse{Status: 403, Details: "denied", Body: []byte("forbidden"),
		Headers: [][2]string{{"x-reason", "policy"}}, GRPCStatus: -1}
	if got := s.local; got == nil || got.Status != want.Status || got.Details != want.Details ||
		string(got.Body) != string(want.Body) || !slices.Equal(got.Headers, want.Headers) || got.GRPCStatus != -1 {
		t.Fatalf("local response = %+v, want %+v", got, want)
	}
}

func TestCloseStream(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{})
	c, a, err := requestHeaders(t, context.Background(), p, newStream("x-mode", "x"))
	if err != nil || a != wasmhost.ActionReset {
		t.Fatalf("got %v %v, want reset", a, err)
	}
	// Later callbacks keep answering reset.
	if a, _ := c.OnResponseHeaders(context.Background(), true); a != wasmhost.ActionReset {
		t.Fatalf("after close: %v", a)
	}
	c.Done(context.Background())
}

func TestPauseResumedByTick(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{})
	s := newStream("x-mode", "pause")
	c, a, err := requestHeaders(t, context.Background(), p, s)
	if err != nil || a != wasmhost.ActionContinue {
		t.Fatalf("got %v %v", a, err)
	}
	c.Done(context.Background())
	if got := s.req("x-resumed"); got != "tick" {
		t.Fatalf("x-resumed = %q: the tick did not modify the paused stream", got)
	}
}

func TestPauseResumedByHTTPCall(t *testing.T) {
	tests := []struct {
		name       string
		status     string
		fail       bool
		wantAction wasmhost.Action
		wantAuth   string
		wantLocal  int
	}{
		{"allowed", "200", false, wasmhost.ActionContinue, "ok", 0},
		{"denied", "403", false, wasmhost.ActionStop, "", 401},
		{"callout error", "", true, wasmhost.ActionStop, "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var got *wasmhost.CalloutRequest
			var mu sync.Mutex
			p := e.load(t, wasmhost.PluginConfig{
				HTTPCall: func(ctx context.Context, req *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
					mu.Lock()
					got = req
					mu.Unlock()
					if _, ok := ctx.Deadline(); !ok {
						return nil, errors.New("no deadline")
					}
					if tt.fail {
						return nil, errors.New("connection refused")
					}
					return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", tt.status}}}, nil
				},
			})
			s := newStream("x-mode", "call")
			c, a, err := requestHeaders(t, context.Background(), p, s)
			if err != nil || a != tt.wantAction {
				t.Fatalf("got %v %v, want %v", a, err, tt.wantAction)
			}
			c.Done(context.Background())
			if v := s.req("x-auth"); v != tt.wantAuth {
				t.Errorf("x-auth = %q, want %q", v, tt.wantAuth)
			}
			if tt.wantLocal != 0 && (s.local == nil || s.local.Status != tt.wantLocal) {
				t.Errorf("local = %+v, want %d", s.local, tt.wantLocal)
			}
			mu.Lock()
			defer mu.Unlock()
			if got == nil || got.Upstream != "auth" || got.Timeout != time.Second ||
				!slices.Equal(got.Headers, [][2]string{{":method", "GET"}, {":path", "/check"}, {":authority", "auth"}}) {
				t.Errorf("callout = %+v", got)
			}
		})
	}
}

func TestPauseNotResumed(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	p := e.load(t, wasmhost.PluginConfig{
		HTTPCall: func(ctx context.Context, req *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, errors.New("gave up")
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	s := newStream("x-mode", "call")
	c, err := p.NewHTTPContext(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.OnRequestHeaders(ctx, true)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, wasmhost.ErrPaused) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrPaused", err)
	}
	c.Done(context.Background())
	close(release)
	// The instance is still healthy.
	s2 := newStream("x-in", "again")
	c2, a, err := requestHeaders(t, context.Background(), p, s2)
	if err != nil || a != wasmhost.ActionContinue {
		t.Fatalf("next request: %v %v", a, err)
	}
	c2.Done(context.Background())
}

func TestBodies(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{})
	ctx := context.Background()
	s := newStream()
	c, a, err := requestHeaders(t, ctx, p, s)
	if err != nil || a != wasmhost.ActionContinue {
		t.Fatal(a, err)
	}
	s.bodies[wasmhost.RequestBody] = []byte("hel")
	if a, err := c.OnRequestBody(ctx, false); err != nil || a != wasmhost.ActionBuffer {
		t.Fatalf("partial body: %v %v, want buffer", a, err)
	}
	s.bodies[wasmhost.RequestBody] = []byte("hello")
	if a, err := c.OnRequestBody(ctx, true); err != nil || a != wasmhost.ActionContinue {
		t.Fatalf("body: %v %v", a, err)
	}
	if got := string(s.bodies[wasmhost.RequestBody]); got != "<hello>" {
		t.Errorf("request body = %q, want <hello>", got)
	}
	s.respond()
	s.bodies[wasmhost.ResponseBody] = []byte("upstream says hi")
	if _, err := c.OnResponseHeaders(ctx, false); err != nil {
		t.Fatal(err)
	}
	if a, err := c.OnResponseBody(ctx, true); err != nil || a != wasmhost.ActionContinue {
		t.Fatalf("response body: %v %v", a, err)
	}
	if got := string(s.bodies[wasmhost.ResponseBody]); got != "replaced" {
		t.Errorf("response body = %q, want replaced", got)
	}
	c.Done(ctx)
	m, _ := e.metric("body_size")
	if m.Type != wasmhost.Histogram || m.Count != 1 || m.Sum != 5 || m.Buckets[len(m.Buckets)-1].Count != 1 {
		t.Errorf("body_size = %+v", m)
	}
}

func TestProperties(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{Name: "props"})
	s := newStream("x-mode", "r")
	s.props["source.address"] = "10.0.0.1:1234"
	c, _, err := requestHeaders(t, context.Background(), p, s)
	if err != nil {
		t.Fatal(err)
	}
	c.Done(context.Background())
	for name, want := range map[string]string{"x-path": "/foo?x=1", "x-plugin": "props", "x-src": "10.0.0.1:1234"} {
		if got := s.req(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got := s.setProps["wasmgate.upstream"]; got != "api" {
		t.Errorf("wasmgate.upstream = %q", got)
	}
}

func TestOutOfBoundsPointers(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{})
	s := newStream("x-mode", "oob")
	c, a, err := requestHeaders(t, context.Background(), p, s)
	if err != nil || a != wasmhost.ActionContinue {
		t.Fatal(a, err)
	}
	c.Done(context.Background())
	// Both statuses are INVALID_MEMORY_ACCESS (6): bad key, bad return pointer.
	if got := s.req("x-oob"); got != "66" {
		t.Fatalf("x-oob = %q, want 66", got)
	}
}

func TestSharedDataCASAcrossInstances(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{PoolSize: 2})
	const workers, per = 4, 25
	var mu sync.Mutex
	var seen []int
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range per {
				s := newStream("x-mode", "shared")
				c, _, err := requestHeaders(t, context.Background(), p, s)
				if err != nil {
					t.Error(err)
					return
				}
				c.Done(context.Background())
				n, _ := strconv.Atoi(s.req("x-count"))
				mu.Lock()
				seen = append(seen, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(seen)
	for i, n := range seen {
		if n != i+1 {
			t.Fatalf("counter values %v: lost or duplicated updates", seen)
		}
	}
	// Another plugin with the same VM id shares the data; another VM id does not.
	same := e.load(t, wasmhost.PluginConfig{Name: "same-vm"})
	other := e.load(t, wasmhost.PluginConfig{Name: "other-vm", VMID: "vm2"})
	for _, tt := range []struct {
		p    *wasmhost.Plugin
		want string
	}{{same, strconv.Itoa(workers*per + 1)}, {other, "1"}} {
		s := newStream("x-mode", "shared")
		c, _, err := requestHeaders(t, context.Background(), tt.p, s)
		if err != nil {
			t.Fatal(err)
		}
		c.Done(context.Background())
		if got := s.req("x-count"); got != tt.want {
			t.Errorf("%s: x-count = %q, want %q", tt.p.Name(), got, tt.want)
		}
	}
}

func TestSharedQueue(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{PoolSize: 2})
	const n = 20
	for range n {
		c, _, err := requestHeaders(t, context.Background(), p, newStream("x-mode", "queue"))
		if err != nil {
			t.Fatal(err)
		}
		c.Done(context.Background())
	}
	waitFor(t, "queue_items to reach 20", func() bool {
		m, _ := e.metric("queue_items")
		return m.Value == n
	})
}

func TestFailuresReplaceInstance(t *testing.T) {
	tests := []struct {
		mode  string
		cfg   wasmhost.PluginConfig
		wants []error
	}{
		{"trap", wasmhost.PluginConfig{}, []error{wasmhost.ErrTrap}},
		{"infinite loop", wasmhost.PluginConfig{CallTimeout: 50 * time.Millisecond}, []error{wasmhost.ErrDeadline}},
		{"memory hog", wasmhost.PluginConfig{MemoryLimitPages: 32}, []error{wasmhost.ErrTrap, wasmhost.ErrMemoryLimit}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			e := newEnv(t)
			p := e.load(t, tt.cfg)
			ctx := context.Background()
			// A bystander stream bound to the same (only) instance.
			by := newStream("x-in", "bystander")
			bc, _, err := requestHeaders(t, ctx, p, by)
			if err != nil {
				t.Fatal(err)
			}
			c, _, err := requestHeaders(t, ctx, p, newStream("x-mode", tt.mode))
			for _, want := range tt.wants {
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
			if _, err := c.OnResponseHeaders(ctx, true); err == nil {
				t.Fatal("a failed context must keep failing")
			}
			lost := wasmhost.BoundInstance(c)
			c.Done(ctx)
			// The bystander was between callbacks: it moves to the
			// replacement (a fresh guest context) and carries on.
			by.respond()
			if a, err := bc.OnResponseHeaders(ctx, true); err != nil || a != wasmhost.ActionContinue {
				t.Fatalf("bystander after the crash: %v %v, want it to succeed", a, err)
			}
			if got := by.resp("x-out"); got != "bystander" {
				t.Fatalf("bystander's response callback did not run: x-out = %q", got)
			}
			if wasmhost.BoundInstance(bc) == lost {
				t.Fatal("bystander still bound to the discarded instance")
			}
			bc.Done(ctx)
			// The replacement serves new streams.
			s := newStream("x-in", "after")
			c2, a, err := requestHeaders(t, ctx, p, s)
			if err != nil || a != wasmhost.ActionContinue {
				t.Fatalf("after replacement: %v %v", a, err)
			}
			s.respond()
			_, _ = c2.OnResponseHeaders(ctx, true)
			c2.Done(ctx)
			if s.resp("x-out") != "after" {
				t.Fatal("replacement instance misbehaves")
			}
		})
	}
}

func TestCloseFailsPausedStreams(t *testing.T) {
	e := newEnv(t)
	dispatched := make(chan struct{}, 1)
	p, err := e.host.Load(context.Background(), wasmhost.PluginConfig{
		Name: "closing", Wasm: readWasm(t, "filter"), PoolSize: 1,
		HTTPCall: func(ctx context.Context, _ *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
			dispatched <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.NewHTTPContext(context.Background(), newStream("x-mode", "call"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.OnRequestHeaders(context.Background(), true)
		done <- err
	}()
	// The callout is dispatched while the callback holds the instance, so
	// Close (which needs the instance) finds the stream paused.
	<-dispatched
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, wasmhost.ErrInstanceLost) || !errors.Is(err, wasmhost.ErrClosed) {
		t.Fatalf("err = %v, want ErrInstanceLost and ErrClosed", err)
	}
	c.Done(context.Background())
	if _, err := p.NewHTTPContext(context.Background(), newStream()); !errors.Is(err, wasmhost.ErrClosed) {
		t.Fatalf("NewHTTPContext after Close: %v", err)
	}
}

func TestConcurrentStreams(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{PoolSize: 2})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				v := fmt.Sprintf("w%d-%d", w, i)
				s := newStream("x-in", v)
				c, _, err := requestHeaders(t, context.Background(), p, s)
				if err != nil {
					t.Error(err)
					return
				}
				s.respond()
				_, _ = c.OnResponseHeaders(context.Background(), true)
				c.Done(context.Background())
				if s.resp("x-out") != v {
					t.Errorf("x-out = %q, want %q", s.resp("x-out"), v)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestWASIUnstableAndStartOrder(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{Wasm: readWasm(t, "unstable")})
	if logs := e.logs.String(); !strings.Contains(logs, "hello from wasi_unstable") {
		t.Errorf("stdout through wasi_unstable not logged:\n%s", logs)
	}
	// AssemblyScript's abort traps the callback.
	_, _, err := requestHeaders(t, context.Background(), p, newStream())
	if !errors.Is(err, wasmhost.ErrTrap) || !strings.Contains(err.Error(), "line 7 column 3") {
		t.Fatalf("err = %v, want ErrTrap from abort", err)
	}
}

// TestDeadlineModes: a callback that loops forever fails with ErrDeadline
// and its instance is replaced, however the deadline is enforced: by the
// load-time instrumentation (the default), by wazero's context watch
// (ContextDeadlines), or by the latter as the fallback for a module that
// cannot be instrumented. The garbage collector runs meanwhile: native code
// cannot be preempted, so a guest that never called into Go would hold up
// its stop-the-world phases, and with them the watchdog, forever.
func TestDeadlineModes(t *testing.T) {
	tests := []struct {
		name     string
		cfg      wasmhost.PluginConfig
		mode     string // x-mode of the looping request
		fallback bool   // the module cannot be instrumented
	}{
		{"instrumented", wasmhost.PluginConfig{}, "infinite loop", false},
		{"context", wasmhost.PluginConfig{ContextDeadlines: true}, "infinite loop", false},
		{"not instrumentable", wasmhost.PluginConfig{Wasm: readWasm(t, "reserved")}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.cfg.CallTimeout = 50 * time.Millisecond
			p := e.load(t, tt.cfg)
			ctx := context.Background()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
						runtime.GC()
						time.Sleep(time.Millisecond)
					}
				}
			})
			c, _, err := requestHeaders(t, ctx, p, newStream("x-mode", tt.mode))
			close(stop)
			wg.Wait()
			if !errors.Is(err, wasmhost.ErrDeadline) {
				t.Fatalf("err = %v, want ErrDeadline", err)
			}
			c.Done(ctx)
			if got := strings.Contains(e.logs.String(), "not instrumented"); got != tt.fallback {
				t.Errorf("fallback logged: %v, want %v; logs:\n%s", got, tt.fallback, e.logs.String())
			}
			// The replacement serves new streams.
			c2, err := p.NewHTTPContext(ctx, newStream())
			if err != nil {
				t.Fatalf("after replacement: %v", err)
			}
			c2.Done(ctx)
		})
	}
}
