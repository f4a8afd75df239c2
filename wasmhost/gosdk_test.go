package wasmhost_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/wasmgate/wasmgate/wasmhost"
)

// goSDKVersion is the official Go SDK the compatibility tests build against.
const goSDKVersion = "v0.0.0-20260105142703-44c7d5847745"

// buildGoSDK builds testdata/gosdk/<name> with the standard Go toolchain
// (GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared) in a temporary module that
// requires the official SDK, and caches the result under the temp dir keyed
// by the sources, the SDK version and the Go version. It skips the test when
// the toolchain or the SDK is not available.
func buildGoSDK(t testing.TB, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "gosdk", name, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module wasmhost.test/" + name + "\n\ngo 1.24\n\nrequire github.com/proxy-wasm/proxy-wasm-go-sdk " + goSDKVersion + "\n"
	sum := sha256.Sum256(slices.Concat(src, []byte(gomod), []byte(runtime.Version())))
	key := hex.EncodeToString(sum[:12])
	cacheDir := filepath.Join(os.TempDir(), "wasmhost-gosdk")
	out := filepath.Join(cacheDir, name+"-"+key+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		return b
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("Go SDK compatibility: no go toolchain in PATH")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := out + ".tmp" + strconv.Itoa(os.Getpid())
	cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", tmp, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Skipf("Go SDK compatibility: building %s with proxy-wasm-go-sdk %s failed (toolchain or module download unavailable?): %v\n%s",
			name, goSDKVersion, err, stderr.String())
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoSDKHeadersFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go wasm module")
	}
	e := newEnv(t)
	wasm := buildGoSDK(t, "headers")
	p := e.load(t, wasmhost.PluginConfig{Name: "gosdk", Wasm: wasm, PluginConfig: []byte("-cfg"), PoolSize: 2})
	ctx := context.Background()

	t.Run("read request header, add response header", func(t *testing.T) {
		s := newStream("x-in", "hello")
		c, a, err := requestHeaders(t, ctx, p, s)
		if err != nil || a != wasmhost.ActionContinue {
			t.Fatal(a, err)
		}
		s.respond()
		if _, err := c.OnResponseHeaders(ctx, true); err != nil {
			t.Fatal(err)
		}
		c.Done(ctx)
		if got := s.resp("x-out"); got != "hello-cfg" {
			t.Fatalf("x-out = %q, want hello-cfg (header + plugin configuration)", got)
		}
	})
	t.Run("local response", func(t *testing.T) {
		s := newStream("x-in", "deny")
		c, a, err := requestHeaders(t, ctx, p, s)
		if err != nil || a != wasmhost.ActionStop {
			t.Fatal(a, err)
		}
		c.Done(ctx)
		if s.local == nil || s.local.Status != 403 || string(s.local.Body) != "denied by gosdk" ||
			!slices.Equal(s.local.Headers, [][2]string{{"x-denied-by", "gosdk"}}) || s.local.GRPCStatus != -1 {
			t.Fatalf("local = %+v", s.local)
		}
	})
	t.Run("properties", func(t *testing.T) {
		s := newStream("x-in", "props")
		s.props["source.address"] = "192.0.2.1:5555"
		c, _, err := requestHeaders(t, ctx, p, s)
		if err != nil {
			t.Fatal(err)
		}
		c.Done(ctx)
		for k, want := range map[string]string{"x-prop-path": "/foo?x=1", "x-prop-plugin": "gosdk",
			"x-prop-nheaders": "5", "x-prop-src": "192.0.2.1:5555"} {
			if got := s.req(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if s.setProps["wasmgate.upstream"] != "api" {
			t.Errorf("set properties = %v", s.setProps)
		}
	})
	t.Run("header rewrite", func(t *testing.T) {
		s := newStream("x-in", "rewrite", "x-remove", "1")
		c, _, err := requestHeaders(t, ctx, p, s)
		if err != nil {
			t.Fatal(err)
		}
		c.Done(ctx)
		if s.req(":path") != "/rewritten" || s.req("x-remove") != "" || s.req("x-count") != "5" ||
			s.req("x-set-pairs") != "1" || s.maps[wasmhost.RequestHeaders].Len() != 7 {
			t.Fatalf("headers = %v", *s.maps[wasmhost.RequestHeaders])
		}
	})
	t.Run("bodies", func(t *testing.T) {
		s := newStream()
		c, _, err := requestHeaders(t, ctx, p, s)
		if err != nil {
			t.Fatal(err)
		}
		s.bodies[wasmhost.RequestBody] = []byte("abc")
		if a, _ := c.OnRequestBody(ctx, false); a != wasmhost.ActionBuffer {
			t.Fatalf("partial body: %v", a)
		}
		s.bodies[wasmhost.RequestBody] = []byte("abcdef")
		if a, err := c.OnRequestBody(ctx, true); err != nil || a != wasmhost.ActionContinue {
			t.Fatal(a, err)
		}
		s.respond()
		s.bodies[wasmhost.ResponseBody] = []byte("ok")
		_, _ = c.OnResponseHeaders(ctx, false)
		if _, err := c.OnResponseBody(ctx, true); err != nil {
			t.Fatal(err)
		}
		c.Done(ctx)
		if got := string(s.bodies[wasmhost.RequestBody]); got != "ABCDEF" {
			t.Errorf("request body = %q", got)
		}
		if got := string(s.bodies[wasmhost.ResponseBody]); got != "ok!" {
			t.Errorf("response body = %q", got)
		}
	})
	t.Run("a Go panic fails the request and the instance is replaced", func(t *testing.T) {
		_, _, err := requestHeaders(t, ctx, p, newStream("x-in", "panic"))
		if !errors.Is(err, wasmhost.ErrTrap) {
			t.Fatalf("err = %v, want ErrTrap", err)
		}
		for range 4 { // both slots serve again
			s := newStream("x-in", "again")
			c, _, err := requestHeaders(t, ctx, p, s)
			if err != nil {
				t.Fatal(err)
			}
			c.Done(ctx)
		}
	})
	if m, _ := e.metric("gosdk_requests_total"); m.Value < 5 {
		t.Errorf("gosdk_requests_total = %d", m.Value)
	}
	if logs := e.logs.String(); !bytes.Contains([]byte(logs), []byte(`gosdk plugin started with \"-cfg\"`)) {
		t.Errorf("missing start log:\n%s", logs)
	}
	t.Run("configuration rejected", func(t *testing.T) {
		_, err := e.host.Load(ctx, wasmhost.PluginConfig{Name: "rejecting", Wasm: wasm, PluginConfig: []byte("reject")})
		if !errors.Is(err, wasmhost.ErrConfigureFailed) {
			t.Fatalf("err = %v, want ErrConfigureFailed", err)
		}
	})
}

func TestGoSDKAsyncFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go wasm module")
	}
	e := newEnv(t)
	wasm := buildGoSDK(t, "async")
	var mu sync.Mutex
	calls := map[string]int{}
	p := e.load(t, wasmhost.PluginConfig{Name: "async", Wasm: wasm, PoolSize: 2,
		HTTPCall: func(ctx context.Context, req *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
			mu.Lock()
			calls[req.Upstream]++
			mu.Unlock()
			if req.Upstream == "auth" && string(req.Body) == "who?" {
				return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "200"}}, Body: []byte("alice")}, nil
			}
			return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "403"}}}, nil
		}})
	ctx := context.Background()

	t.Run("http_call pauses, callback resumes", func(t *testing.T) {
		s := newStream("x-mode", "auth")
		c, a, err := requestHeaders(t, ctx, p, s)
		if err != nil || a != wasmhost.ActionContinue {
			t.Fatal(a, err)
		}
		c.Done(ctx)
		if s.req("x-user") != "alice" {
			t.Fatalf("x-user = %q", s.req("x-user"))
		}
	})
	t.Run("shared data CAS across instances", func(t *testing.T) {
		var wg sync.WaitGroup
		var seen []int
		for range 4 {
			wg.Go(func() {
				for range 10 {
					s := newStream("x-mode", "shared")
					c, _, err := requestHeaders(t, ctx, p, s)
					if err != nil {
						t.Error(err)
						return
					}
					c.Done(ctx)
					n, _ := strconv.Atoi(s.req("x-hits"))
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
				t.Fatalf("hits %v: lost or duplicated updates", seen)
			}
		}
	})
	t.Run("queue", func(t *testing.T) {
		for range 5 {
			c, _, err := requestHeaders(t, ctx, p, newStream("x-mode", "queue"))
			if err != nil {
				t.Fatal(err)
			}
			c.Done(ctx)
		}
		waitFor(t, "gosdk_queue_items = 5", func() bool {
			m, _ := e.metric("gosdk_queue_items")
			return m.Value == 5
		})
	})
	t.Run("ticks and a call dispatched from a tick", func(t *testing.T) {
		waitFor(t, "ticks on both instances and their tick calls answered", func() bool {
			m, _ := e.metric("gosdk_tick_calls")
			ticks, _ := e.metric("gosdk_ticks")
			return m.Value == 2 && ticks.Value >= 4
		})
		mu.Lock()
		defer mu.Unlock()
		if calls["ticker"] != 2 {
			t.Errorf("calls = %v", calls)
		}
	})
}

// TestGoSDKInstanceMemory checks what one more instance of a Go-SDK filter
// costs: its linear memory plus the Go heap the host keeps for it.
func TestGoSDKInstanceMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go wasm module")
	}
	const limit = 4 << 20
	e := newEnv(t)
	wasm := buildGoSDK(t, "headers")
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	// The difference between a 5-instance and a 1-instance plugin of the
	// same module leaves out per-plugin costs (the decoded module).
	load := func(name string, n int) (uint64, *wasmhost.Plugin) {
		before := heap()
		p := e.load(t, wasmhost.PluginConfig{Name: name, Wasm: wasm, PoolSize: n})
		for range 8 { // serve a few requests so that the instances are warm
			c, _, err := requestHeaders(t, context.Background(), p, newStream("x-in", "v"))
			if err != nil {
				t.Fatal(err)
			}
			c.Done(context.Background())
		}
		return heap() - before, p
	}
	load("warm-up", 1) // fills the compilation cache
	one, _ := load("one", 1)
	five, p := load("five", 5)
	per := (five - one) / 4
	mems := wasmhost.InstanceMemoryBytes(p)
	t.Logf("Go-SDK filter: %d KiB of host heap per instance; linear memory per instance %v bytes", per>>10, mems)
	if per > limit {
		t.Errorf("an instance costs %d bytes, want <= %d", per, limit)
	}
	for _, m := range mems {
		if m > limit {
			t.Errorf("linear memory %d bytes, want <= %d", m, limit)
		}
	}
}
