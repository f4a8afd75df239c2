package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
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
// and the filter keeps serving. (TestWasmFilterCrashesSpareOtherRequests:
// requests bound to the same instance at that moment carry on.)
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

// trailerBackend is an h2c upstream that reads the request body to its end
// and answers with JSON of what it got, the request trailers included, and
// with response trailers: x-resp-trl (the request header x-resp-trl),
// x-resp-trl-drop, grpc-status, and x-trl-mode (the request header
// x-send-trl-mode).
func trailerBackend(t *testing.T) string {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return // the gateway aborted the request
		}
		w.Header().Set("Trailer", "X-Resp-Trl, X-Resp-Trl-Drop, Grpc-Status, X-Trl-Mode")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"body":     string(b),
			"order":    r.Header.Get("X-Order"),
			"trailers": r.Trailer,
		})
		w.Header().Set("X-Resp-Trl", r.Header.Get("X-Resp-Trl"))
		w.Header().Set("X-Resp-Trl-Drop", "1")
		w.Header().Set("Grpc-Status", "0")
		if m := r.Header.Get("X-Send-Trl-Mode"); m != "" {
			w.Header().Set("X-Trl-Mode", m)
		}
	})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &p}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestWasmFilterTrailers: request trailers (an HTTP/2 or HTTP/3 client's)
// and response trailers (an HTTP/2 upstream's) reach the filters'
// proxy_on_request_trailers / proxy_on_response_trailers, in chain order
// and reverse chain order, and what the filters made of them is what the
// upstream and the client get. With buffer_body the filter sees the
// request's headers, body and trailers in that order before it is
// forwarded. A filter that answers locally or traps in its request
// trailers callback, before the response started, answers the request; in
// its response trailers callback, once the response has been sent, it
// resets the stream.
func TestWasmFilterTrailers(t *testing.T) {
	mod, err := filepath.Abs(filepath.Join("..", "wasmhost", "testdata", "trailers.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	be := trailerBackend(t)
	ca := newTestCA(t, "test CA")
	cert, key := ca.issue(t, "site", certOpts{names: []string{"localhost"}})
	listener := func(name, ch string) string {
		return fmt.Sprintf(`
listener %q {
  address  = "127.0.0.1:0"
  protocol = "https"
  http3    = true
  chain    = %q
  upstream = "u"
  tls {
    certificate "site" {
      cert_file = "CERT"
      key_file  = "KEY"
    }
  }
}
`, name, ch)
	}
	src := listener("web", "stream") + listener("buffered", "buffered") + listener("open", "open") + fmt.Sprintf(`
chain "stream" {
  filter "a" {
    module    = %[1]q
    config    = "A"
    pool_size = 1
  }
  filter "b" {
    module    = %[1]q
    config    = "B"
    pool_size = 1
  }
}
chain "buffered" {
  filter "a" {
    module      = %[1]q
    config      = "A"
    buffer_body = "64KiB"
  }
}
chain "open" {
  filter "a" {
    module = %[1]q
    config = "A"
    fail   = "open"
  }
}
upstream "u" {
  protocol = "h2c"
  endpoint %[2]q {}
}
`, mod, be)
	gw, addr := startTLSGateway(t, src, Options{}, "CERT", cert, "KEY", key)
	_, port, _ := net.SplitHostPort(addr)
	_, bport, _ := net.SplitHostPort(gw.Addr("buffered").String())
	_, oport, _ := net.SplitHostPort(gw.Addr("open").String())
	tc := tlsClientConfig(ca, "localhost")

	type reply struct {
		Body     string
		Order    string
		Trailers http.Header
	}
	do := func(c *http.Client, port string, reqTrl map[string]string, hdr ...string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodPost, "https://localhost:"+port+"/t", io.MultiReader(strings.NewReader("payload")))
		req.Trailer = http.Header{}
		for k, v := range reqTrl {
			req.Trailer.Set(k, v)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			return &http.Response{}, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	h2 := h2Client(tc.Clone())
	defer h2.CloseIdleConnections() // else the gateway's shutdown waits for them
	for _, pc := range []protoClient{{"HTTP/2", h2}, {"HTTP/3", h3Client(t, tc.Clone())}} {
		t.Run(pc.name, func(t *testing.T) {
			trl := map[string]string{"X-Req-Trl": "v", "X-Req-Trl-Drop": "1", "X-Keep": "k"}
			resp, b, err := do(pc.c, port, trl, "X-Resp-Trl", "w")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, body %q, err %v", resp.StatusCode, b, err)
			}
			if strings.TrimSuffix(resp.Proto, ".0") != pc.name {
				t.Fatalf("client spoke %s", resp.Proto)
			}
			var r reply
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("%v: %q", err, b)
			}
			if r.Body != "payload" || r.Order != "hh" {
				t.Fatalf("upstream got body %q, x-order %q", r.Body, r.Order)
			}
			// Chain order: a appends A, then b appends B.
			if got := r.Trailers.Get("X-Req-Trl"); got != "vAB" {
				t.Errorf("upstream's request trailer x-req-trl = %q, want vAB (all trailers: %v)", got, r.Trailers)
			}
			if r.Trailers.Get("X-Req-Trl-Drop") != "" || r.Trailers.Get("X-Keep") != "k" {
				t.Errorf("upstream's request trailers %v: want x-req-trl-drop removed, x-keep kept", r.Trailers)
			}
			// Reverse order: b appends B, then a appends A.
			if got := resp.Trailer.Get("X-Resp-Trl"); got != "wBA" {
				t.Errorf("client's response trailer x-resp-trl = %q, want wBA (all: %v)", got, resp.Trailer)
			}
			if resp.Trailer.Get("X-Resp-Trl-Drop") != "" || resp.Trailer.Get("X-Resp-Trl-Seen") != "1" || resp.Trailer.Get("Grpc-Status") != "0" {
				t.Errorf("client's response trailers %v: want x-resp-trl-drop removed, x-resp-trl-seen added, grpc-status kept", resp.Trailer)
			}

			// buffer_body: headers, body, trailers, then forwarded.
			resp, b, err = do(pc.c, bport, trl, "X-Resp-Trl", "w")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("buffered: status %d, body %q, err %v", resp.StatusCode, b, err)
			}
			r = reply{}
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("%v: %q", err, b)
			}
			if r.Order != "hbt" || r.Body != "payload" || r.Trailers.Get("X-Req-Trl") != "vA" || r.Trailers.Get("X-Req-Trl-Drop") != "" {
				t.Errorf("buffered: upstream got x-order %q (want hbt), body %q, trailers %v", r.Order, r.Body, r.Trailers)
			}
			if got := resp.Trailer.Get("X-Resp-Trl"); got != "wA" {
				t.Errorf("buffered: client's x-resp-trl = %q, want wA", got)
			}

			// A local response or a trap in the request trailers callback,
			// before the response started, answers the request.
			resp, b, err = do(pc.c, port, map[string]string{"X-Trl-Mode": "l"})
			if err != nil || resp.StatusCode != 403 || string(b) != "trailer-denied" {
				t.Errorf("local response from request trailers: %d %q %v", resp.StatusCode, b, err)
			}
			resp, _, err = do(pc.c, port, map[string]string{"X-Trl-Mode": "t"})
			if err != nil || resp.StatusCode != 500 {
				t.Errorf("trap in request trailers: %d %v, want 500", resp.StatusCode, err)
			}
			// Failing open, the trap skips the filter: the request goes on
			// with its trailers as the client sent them.
			resp, b, err = do(pc.c, oport, map[string]string{"X-Trl-Mode": "t", "X-Keep": "k"})
			r = reply{}
			if err != nil || resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil || r.Body != "payload" || r.Trailers.Get("X-Keep") != "k" {
				t.Errorf("trap in request trailers, fail open: %d %q %v, want 200 with the trailers forwarded", resp.StatusCode, b, err)
			}
			// Once the response is out, a trap or a local response resets
			// the stream: the client must not take the body as complete.
			// (Checked over HTTP/2 only: quic-go's client keeps the
			// connection of a reset HTTP/3 request open, which holds the
			// gateway's graceful shutdown at the end of the test for its
			// whole timeout. Over HTTP/3 the reset may beat the head.)
			for _, mode := range []string{"t", "l"} {
				if pc.name == "HTTP/3" {
					break
				}
				resp, b, err = do(pc.c, port, trl, "X-Send-Trl-Mode", mode)
				if err == nil {
					t.Errorf("x-trl-mode %s in response trailers: stream not reset (%d %q, trailers %v)", mode, resp.StatusCode, b, resp.Trailer)
				}
			}
			// And the filters keep serving.
			if resp, b, err := do(pc.c, port, trl, "X-Resp-Trl", "w"); err != nil || resp.Trailer.Get("X-Resp-Trl") != "wBA" {
				t.Errorf("after the failures: %v %q %v", err, b, resp.Trailer)
			}
		})
	}
}

// TestWasmFilterCrashesSpareOtherRequests: many concurrent requests share
// a filter's instances (pool_size 1 and 2) while some of them make it
// trap. Each trapping request fails with the configured status; every
// other one succeeds, its response callback included, even when the
// instance it was bound to was discarded under it: it moves to a live
// instance (see "Bystanders" in the wasmhost package documentation).
func TestWasmFilterCrashesSpareOtherRequests(t *testing.T) {
	mod, err := filepath.Abs(filepath.Join("..", "wasmhost", "testdata", "filter.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	be := startEcho(t, "b")
	for _, pool := range []int{1, 2} {
		t.Run(fmt.Sprintf("pool_size %d", pool), func(t *testing.T) {
			src := fmt.Sprintf(`
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "c"
  upstream = "u"
}
chain "c" {
  filter "f" {
    module    = %q
    pool_size = %d
  }
}
`, mod, pool) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
			_, url := startGateway(t, src, Options{})
			c := newClient()
			defer c.CloseIdleConnections() // else the gateway's shutdown waits for them
			const workers, each = 16, 25
			var wg sync.WaitGroup
			var mu sync.Mutex
			var failed []string
			crashes, ok := 0, 0
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						crash := (w+i)%8 == 0
						in := fmt.Sprintf("w%d-%d", w, i)
						req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
						req.Header.Set("X-In", in)
						if crash {
							req.Header.Set("X-Mode", "trap")
						}
						resp, err := c.Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						mu.Lock()
						switch {
						case crash && (resp.StatusCode != 500 || resp.Header.Get("X-Backend") != ""):
							failed = append(failed, fmt.Sprintf("crashing %s: %d backend %q", in, resp.StatusCode, resp.Header.Get("X-Backend")))
						case crash:
							crashes++
						case resp.StatusCode != 200 || resp.Header.Get("X-Out") != in:
							failed = append(failed, fmt.Sprintf("bystander %s: %d x-out %q", in, resp.StatusCode, resp.Header.Get("X-Out")))
						default:
							ok++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(failed) > 0 {
				t.Fatalf("%d of %d requests went wrong, e.g. %s", len(failed), workers*each, strings.Join(failed[:min(len(failed), 5)], "; "))
			}
			t.Logf("%d requests passed, %d trapped with 500", ok, crashes)
		})
	}
}
