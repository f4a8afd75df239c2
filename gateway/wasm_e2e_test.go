package gateway

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// buildSDKExample compiles one sdk/go example filter to wasm with the
// standard Go toolchain, or skips when the toolchain cannot.
func buildSDKExample(t *testing.T, name string) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go toolchain at %s", goBin)
	}
	src, err := filepath.Abs(filepath.Join("..", "sdk", "go", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-trimpath", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

// TestWasmFilterThroughGateway runs a filter built with our Go SDK as a chain
// stage: it reads a request header, adds a response header, and answers 403
// locally when asked to — while other requests pass.
func TestWasmFilterThroughGateway(t *testing.T) {
	if raceEnabled {
		t.Skip("compiling Go-built WASM filters takes minutes under -race; make test runs this in its plain pass")
	}
	if testing.Short() {
		t.Skip("compiles a wasm module")
	}
	mod := buildSDKExample(t, "headers")
	be := startEcho(t, "b")
	src := fmt.Sprintf(`
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "c"
  upstream = "u"
}
chain "c" {
  filter "hdr" {
    module    = %q
    config    = "x-agent-was"
    pool_size = 2
  }
}
`, mod) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, url := startGateway(t, src, Options{})
	c := newClient()

	resp, body := get(t, c, url+"/", "User-Agent", "probe/1")
	if resp.StatusCode != 200 || resp.Header.Get("X-Agent-Was") != "probe/1" {
		t.Fatalf("filtered response: %d, x-agent-was=%q", resp.StatusCode, resp.Header.Get("X-Agent-Was"))
	}
	if echoReply(t, body).Backend != "b" {
		t.Fatal("request did not reach the upstream")
	}
	resp, body = get(t, c, url+"/", "X-Deny", "1")
	if resp.StatusCode != 403 || string(body) != "denied\n" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("local response: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("X-Backend") != "" {
		t.Fatal("a locally answered request reached the upstream")
	}

	// Concurrent requests share the instance pool.
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			agent := fmt.Sprintf("agent-%d", i)
			resp, _ := get(t, c, url+"/", "User-Agent", agent)
			if resp.StatusCode != 200 || resp.Header.Get("X-Agent-Was") != agent {
				errs <- fmt.Sprintf("%d %q", resp.StatusCode, resp.Header.Get("X-Agent-Was"))
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error("concurrent request:", e)
	}
}

// TestValidateFlagsBadModule checks that Check reports a module that is not
// a Proxy-Wasm filter at the module attribute's line.
func TestValidateFlagsBadModule(t *testing.T) {
	dir := t.TempDir()
	// A valid wasm module with no exports at all: no ABI marker.
	empty := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	if err := os.WriteFile(filepath.Join(dir, "plain.wasm"), empty, 0o644); err != nil {
		t.Fatal(err)
	}
	src := `listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "c"
}
chain "c" {
  filter "f" {
    module = "plain.wasm"
  }
}
`
	cfg, diags := confParse(t, src, dir)
	if diags != "" {
		t.Fatal(diags)
	}
	d := Check(t.Context(), cfg, Options{})
	if !d.HasErrors() {
		t.Fatal("a module without the Proxy-Wasm ABI marker must not validate")
	}
	if d[0].Subject == nil || d[0].Subject.Start.Line != 8 || !strings.Contains(d[0].Detail, "proxy_abi_version") {
		t.Fatalf("want a diagnostic on line 8 naming the ABI: %+v %s", d[0].Subject, d[0].Detail)
	}
}

// TestWasmFilterBodies: with buffer_body, a filter sees and rewrites the
// request body (the upstream gets the new one, with its length) and the
// response body (the client gets it, with its length).
func TestWasmFilterBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a wasm module")
	}
	if raceEnabled {
		t.Skip("compiling Go-built WASM filters takes minutes under -race; make test runs this in its plain pass")
	}
	mod := buildSDKExample(t, "body")
	be := startEcho(t, "b")
	src := fmt.Sprintf(`
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "c"
  upstream = "u"
}
chain "c" {
  filter "body" {
    module      = %q
    buffer_body = "64KiB"
  }
}
`, mod) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, url := startGateway(t, src, Options{})
	c := newClient()
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader("ping, ping!")
		if chunked {
			body = io.MultiReader(body)
		}
		req, _ := http.NewRequest(http.MethodPost, url+"/", body)
		req.Header.Set("X-Echo-Body", "1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("response body (a wrong Content-Length would show here): %v", err)
		}
		const trailer = "-- seen by the body filter\n"
		if !strings.HasSuffix(string(b), trailer) {
			t.Fatalf("response body not rewritten by the filter: %q", b)
		}
		r := echoReply(t, b[:len(b)-len(trailer)])
		if r.Body != "pong, pong!" || r.BodyBytes != int64(len("pong, pong!")) {
			t.Fatalf("chunked=%v: upstream got %q (%d bytes), want the filter's rewrite", chunked, r.Body, r.BodyBytes)
		}
	}
	// Without a body the filter's body callbacks are not called and the
	// request passes as is.
	resp, b := get(t, c, url+"/plain")
	if resp.StatusCode != 200 || !strings.HasSuffix(string(b), "-- seen by the body filter\n") {
		t.Fatalf("GET through the body filter: %d %q", resp.StatusCode, b)
	}
}

// TestWasmFilterFailuresAreContained: a filter that traps, loops forever or
// exhausts its memory fails the request it was serving with the configured
// status (fail closed) or is skipped (fail open); the instance is replaced
// and the filter keeps serving. (Requests bound to the same instance at that
// moment lose their filter context too: see the wasmhost package docs.)
func TestWasmFilterFailuresAreContained(t *testing.T) {
	mod, err := filepath.Abs(filepath.Join("..", "wasmhost", "testdata", "filter.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	be := startEcho(t, "b")
	src := fmt.Sprintf(`
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "closed"
  upstream = "u"
}
listener "open" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "open"
  upstream = "u"
}
chain "closed" {
  filter "f" {
    module       = %[1]q
    pool_size    = 2
    timeout      = "300ms"
    memory_limit = "4MiB"
  }
}
chain "open" {
  filter "f" {
    module       = %[1]q
    pool_size    = 2
    timeout      = "300ms"
    memory_limit = "4MiB"
    fail         = "open"
  }
}
`, mod) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	gw, url := startGateway(t, src, Options{})
	openURL := "http://" + gw.Addr("open").String()
	c := newClient()
	for _, mode := range []string{"t", "i", "m"} {
		resp, _ := get(t, c, url+"/bad", "X-Mode", mode)
		if resp.StatusCode != 500 || resp.Header.Get("X-Backend") != "" {
			t.Errorf("x-mode %s (fail closed): status %d backend %q, want 500 before the upstream", mode, resp.StatusCode, resp.Header.Get("X-Backend"))
		}
		for i := 0; i < 4; i++ { // both instances, the replaced one included
			if resp, _ := get(t, c, url+"/ok"); resp.StatusCode != 200 {
				t.Errorf("after x-mode %s: a normal request got %d", mode, resp.StatusCode)
			}
		}
		resp, _ = get(t, c, openURL+"/bad", "X-Mode", mode)
		if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "b" {
			t.Errorf("x-mode %s (fail open): status %d, want the filter skipped and 200", mode, resp.StatusCode)
		}
	}
}
