package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/echo"
)

// startEcho starts named echo backends on free loopback ports.
func startEcho(t *testing.T, names ...string) []*echo.Server {
	t.Helper()
	var out []*echo.Server
	for _, n := range names {
		s, err := echo.Start(n, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out = append(out, s)
	}
	return out
}

// startGateway parses src (HCL) and serves it; listeners should use
// 127.0.0.1:0. It returns the base URL of the listener named "web".
func startGateway(t testing.TB, src string, opts Options) (*Gateway, string) {
	t.Helper()
	cfg, diags := conf.Parse(map[string][]byte{"test.hcl": []byte(src)}, t.TempDir())
	if diags.HasErrors() {
		var b strings.Builder
		_ = conf.WriteDiagnostics(&b, cfg.Files, diags)
		t.Fatalf("config:\n%s", b.String())
	}
	gw := New(opts)
	if err := gw.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return gw, "http://" + gw.Addr("web").String()
}

// reloadTo parses src and reloads gw with it; the listener "web" must keep
// its address.
func reloadTo(t *testing.T, gw *Gateway, src string) {
	t.Helper()
	addr := gw.Addr("web").String()
	cfg, errs := confParse(t, src, t.TempDir())
	if errs != "" {
		t.Fatal(errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got := gw.Addr("web").String(); got != addr {
		t.Fatalf("the listener moved from %s to %s", addr, got)
	}
}

// client is a keep-alive HTTP/1.1 client for the tests.
func newClient() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
	}
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func echoReply(t testing.TB, body []byte) echo.Reply {
	t.Helper()
	var r echo.Reply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("not an echo reply: %v: %q", err, body)
	}
	return r
}

// wantUpstreamFields asserts what the upstream saw in r: each field of want
// as one line with that value, and none of absent.
func wantUpstreamFields(t *testing.T, r echo.Reply, want map[string]string, absent ...string) {
	t.Helper()
	for k, v := range want {
		if got := strings.Join(r.Headers[k], "|"); got != v {
			t.Errorf("upstream saw %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range absent {
		if v, ok := r.Headers[k]; ok {
			t.Errorf("hop-by-hop %s reached the upstream: %q", k, v)
		}
	}
}

func upstreamHCL(name, balancer string, extra string, eps ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream %q {\n  balancer = %q\n%s\n", name, balancer, extra)
	for _, e := range eps {
		b.WriteString("  endpoint " + e + "\n")
	}
	b.WriteString("}\n")
	return b.String()
}

const webListener = `
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  upstream = "u"
  %s
}
`

func TestWeightedSplit(t *testing.T) {
	be := startEcho(t, "a", "b")
	src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "weighted_round_robin", "",
		fmt.Sprintf("%q { weight = 75 }", be[0].Addr()),
		fmt.Sprintf("%q { weight = 25 }", be[1].Addr()))
	_, url := startGateway(t, src, Options{})
	c := newClient()
	const n = 4000
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/8; i++ {
				resp, err := c.Get(url + "/split")
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				counts[resp.Header.Get("X-Backend")]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	share := float64(counts["a"]) / n
	if share < 0.70 || share > 0.80 || counts["a"]+counts["b"] != n {
		t.Fatalf("3:1 split: got %v (a share %.3f), want 0.75±0.05", counts, share)
	}
}

func TestWeightZero(t *testing.T) {
	be := startEcho(t, "live", "drained")
	src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "weighted_round_robin", "",
		fmt.Sprintf("%q { weight = 10 }", be[0].Addr()),
		fmt.Sprintf("%q { weight = 0 }", be[1].Addr()))
	_, url := startGateway(t, src, Options{})
	c := newClient()
	for i := 0; i < 50; i++ {
		resp, _ := get(t, c, url+"/")
		if got := resp.Header.Get("X-Backend"); got != "live" {
			t.Fatalf("request %d went to %q; a weight-0 endpoint must get nothing", i, got)
		}
	}

	src = fmt.Sprintf(webListener, "") + upstreamHCL("u", "weighted_round_robin", "",
		fmt.Sprintf("%q { weight = 0 }", be[0].Addr()),
		fmt.Sprintf("%q { weight = 0 }", be[1].Addr()))
	_, url = startGateway(t, src, Options{})
	resp, _ := get(t, c, url+"/")
	if resp.StatusCode != 503 {
		t.Fatalf("all weights 0: status %d, want 503", resp.StatusCode)
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestDeadEndpoint(t *testing.T) {
	be := startEcho(t, "alive")
	dead := deadAddr(t)
	t.Run("retried on another endpoint", func(t *testing.T) {
		src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "round_robin", "",
			fmt.Sprintf("%q {}", dead), fmt.Sprintf("%q {}", be[0].Addr()))
		_, url := startGateway(t, src, Options{})
		c := newClient()
		for i := 0; i < 20; i++ {
			resp, _ := get(t, c, url+"/")
			if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "alive" {
				t.Fatalf("request %d: status %d from %q; a connect failure must be retried on the live endpoint",
					i, resp.StatusCode, resp.Header.Get("X-Backend"))
			}
		}
	})
	t.Run("502 when nothing answers", func(t *testing.T) {
		src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", dead))
		_, url := startGateway(t, src, Options{})
		resp, _ := get(t, newClient(), url+"/")
		if resp.StatusCode != 502 {
			t.Fatalf("status %d, want 502", resp.StatusCode)
		}
		if resp.Header.Get("X-Wasmgate-Reason") != "connect failure" {
			t.Fatalf("reason %q", resp.Header.Get("X-Wasmgate-Reason"))
		}
	})
	t.Run("no retry when disabled", func(t *testing.T) {
		src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "round_robin", "retry {\n attempts = 0\n}",
			fmt.Sprintf("%q {}", dead), fmt.Sprintf("%q {}", be[0].Addr()))
		_, url := startGateway(t, src, Options{})
		c := newClient()
		statuses := map[int]int{}
		for i := 0; i < 10; i++ {
			resp, _ := get(t, c, url+"/")
			statuses[resp.StatusCode]++
		}
		if statuses[502] != 5 || statuses[200] != 5 {
			t.Fatalf("round robin over a dead and a live endpoint without retries: %v, want 5×502 and 5×200", statuses)
		}
	})
}

func TestSlowEndpoint504(t *testing.T) {
	be := startEcho(t, "slow")
	src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "round_robin", `timeout = "300ms"`, fmt.Sprintf("%q {}", be[0].Addr()))
	_, url := startGateway(t, src, Options{})
	c := newClient()
	resp, _ := get(t, c, url+"/", "X-Echo-Delay", "3s")
	if resp.StatusCode != 504 {
		t.Fatalf("status %d, want 504", resp.StatusCode)
	}
	// The gateway stays healthy for the next request.
	resp, _ = get(t, c, url+"/")
	if resp.StatusCode != 200 {
		t.Fatalf("after a timeout: status %d, want 200", resp.StatusCode)
	}
}

func TestForwardedHeadersAndHopByHop(t *testing.T) {
	be := startEcho(t, "h")
	src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, url := startGateway(t, src, Options{})
	c := newClient()
	resp, body := get(t, c, url+"/p?q=1",
		"X-Forwarded-For", "203.0.113.7",
		"Connection", "keep-alive, X-Secret-Hop",
		"X-Secret-Hop", "1",
		"Keep-Alive", "timeout=5",
		"Proxy-Authorization", "Basic Zm9vOmJhcg==",
		"Te", "trailers",
		"Via", "1.0 edge",
		"X-Keep", "yes",
		"X-Echo-Header", "Keep-Alive=timeout=9",
		"X-Echo-Header", "X-App=1",
	)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := echoReply(t, body)
	wantUpstreamFields(t, r, map[string]string{
		"x-forwarded-for":   "203.0.113.7, 127.0.0.1",
		"x-forwarded-proto": "http",
		"via":               "1.0 edge, 1.1 wasmgate",
		"x-keep":            "yes",
	}, "x-secret-hop", "keep-alive", "proxy-authorization", "te", "upgrade", "proxy-connection")
	if r.Path != "/p?q=1" {
		t.Errorf("path %q", r.Path)
	}
	if !strings.HasPrefix(r.Host, "127.0.0.1:") {
		t.Errorf("Host not preserved: %q", r.Host)
	}
	if resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("upstream Keep-Alive reached the client")
	}
	if resp.Header.Get("X-App") != "1" {
		t.Errorf("end-to-end response header lost")
	}
}

func TestListenerLimits(t *testing.T) {
	be := startEcho(t, "l")
	src := fmt.Sprintf(webListener, `max_header_size = "4KiB"
  max_body_size = "1KiB"
  allow = ["127.0.0.0/8"]`) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, url := startGateway(t, src, Options{})
	c := newClient()

	resp, _ := get(t, c, url+"/", "X-Big", strings.Repeat("x", 8<<10))
	if resp.StatusCode != 431 {
		t.Errorf("oversize header: %d, want 431", resp.StatusCode)
	}
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(strings.Repeat("b", 2048))
		if chunked {
			body = io.MultiReader(body) // unknown length → chunked
		}
		req, _ := http.NewRequest(http.MethodPost, url+"/", body)
		resp, err := newClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("oversize body (chunked=%v): %d, want 413", chunked, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(strings.Repeat("b", 1024)))
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || echoReply(t, b).BodyBytes != 1024 {
		t.Errorf("body at the limit: %d %s", resp.StatusCode, b)
	}

	src = fmt.Sprintf(webListener, `allow = ["10.0.0.0/8"]`) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, url = startGateway(t, src, Options{})
	resp, _ = get(t, c, url+"/")
	if resp.StatusCode != 403 {
		t.Errorf("source outside the allow list: %d, want 403", resp.StatusCode)
	}
}

func TestNoUpstream404(t *testing.T) {
	be := startEcho(t, "x")
	src := `listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
}
` + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, url := startGateway(t, src, Options{})
	resp, _ := get(t, newClient(), url+"/")
	if resp.StatusCode != 404 {
		t.Fatalf("no default upstream and no route: %d, want 404", resp.StatusCode)
	}
}

func confParse(t *testing.T, src, dir string) (*conf.Config, string) {
	t.Helper()
	cfg, diags := conf.Parse(map[string][]byte{"test.hcl": []byte(src)}, dir)
	if diags.HasErrors() {
		var b strings.Builder
		_ = conf.WriteDiagnostics(&b, cfg.Files, diags)
		return cfg, b.String()
	}
	return cfg, ""
}
