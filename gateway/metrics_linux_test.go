package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMetricsClientClosed: a client that leaves before its response began
// is counted (and logged) as 499, as nginx does: on the plain path when it
// resets the connection, and on HTTP/2 when it cancels the stream. The
// plain path drops the try at once: the endpoint has no request in flight
// left long before the backend's 10 s answer.
func TestMetricsClientClosed(t *testing.T) {
	be := startEcho(t, "slow")
	logFile := filepath.Join(t.TempDir(), "access.log")
	src := adminBlock + fmt.Sprintf(webListener, fmt.Sprintf("access_log = %q", logFile)) + `
listener "h2c" {
  address  = "127.0.0.1:0"
  upstream = "u"
  http2    = true
}
` + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	gw, _ := startGateway(t, src, Options{})
	admin := gw.AdminAddr()
	plainOf(t, gw) // "web" is on the plain path
	inFlight := []string{"upstream", "u", "endpoint", be[0].Addr()}

	t.Run("plain path reset", func(t *testing.T) {
		raw, err := net.Dial("tcp", gw.Addr("web").String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(raw, "GET /slow HTTP/1.1\r\nHost: t\r\nx-echo-delay: 10s\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		awaitMetrics(t, admin, []want{{"wasmgate_upstream_endpoint_requests_in_flight", inFlight, 1}})
		_ = raw.(*net.TCPConn).SetLinger(0) // close with a reset
		_ = raw.Close()
		awaitMetrics(t, admin, []want{
			{"wasmgate_responses_by_code_total", []string{"listener", "web", "code", "499"}, 1},
			{"wasmgate_responses_total", []string{"listener", "web", "class", "4xx"}, 1},
			{"wasmgate_upstream_endpoint_requests_in_flight", inFlight, 0},
			{"wasmgate_connections_open", []string{"listener", "web"}, 0},
		})
		deadline := time.Now().Add(2 * time.Second)
		for {
			b, _ := os.ReadFile(logFile)
			if strings.Contains(string(b), `"status":499`) && strings.Contains(string(b), `"uri":"/slow"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no 499 line in the access log:\n%s", b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("plain path half-close", func(t *testing.T) {
		// A client that only shuts its write side still gets its answer.
		raw, err := net.Dial("tcp", gw.Addr("web").String())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := io.WriteString(raw, "GET /half HTTP/1.1\r\nHost: t\r\nx-echo-delay: 100ms\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = raw.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(raw)
		if !strings.HasPrefix(string(b), "HTTP/1.1 200") {
			t.Fatalf("half-closed client got %q", b)
		}
		s := scrapeMetrics(t, admin)
		if got := s.value("wasmgate_responses_by_code_total", "listener", "web", "code", "499"); got != 1 {
			t.Fatalf("499s: %v, want still 1", got)
		}
	})

	t.Run("h2 cancel", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+gw.Addr("h2c").String()+"/slow", nil)
		req.Header.Set("x-echo-delay", "500ms")
		resp, err := h2cClient().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("the request was not cancelled: %s", resp.Status)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		awaitMetrics(t, admin, []want{
			{"wasmgate_responses_by_code_total", []string{"listener", "h2c", "code", "499"}, 1},
			{"wasmgate_responses_total", []string{"listener", "h2c", "class", "2xx"}, 0},
		})
	})
}

// TestMetricsUpstreamCounters: every try is counted on its endpoint once,
// by response class or failure reason, on the plain path and the general
// path alike; a request the plain path hands over is counted by the
// general path only. The counts carry over a reload, and an endpoint that
// leaves the config leaves the metrics.
func TestMetricsUpstreamCounters(t *testing.T) {
	be := startEcho(t, "one")
	dead := deadAddr(t)
	ups := upstreamHCL("u", "round_robin", `timeout = "300ms"`, fmt.Sprintf("%q {}", be[0].Addr())) +
		upstreamHCL("d", "round_robin", "retry {\n  attempts = 0\n}", fmt.Sprintf("%q {}", dead))
	lst := fmt.Sprintf(webListener, "") + `
listener "h2c" {
  address  = "127.0.0.1:0"
  upstream = "u"
  http2    = true
}
listener "dead" {
  address  = "127.0.0.1:0"
  upstream = "d"
}
`
	gw, _ := startGateway(t, adminBlock+lst+ups, Options{})
	admin := gw.AdminAddr()
	plainOf(t, gw) // "web" is on the plain path
	h1 := &http.Client{Timeout: 10 * time.Second}
	send := func(c *http.Client, listener string, want int, hdr ...string) {
		t.Helper()
		resp, body := get(t, c, "http://"+gw.Addr(listener).String()+"/", hdr...)
		if resp.StatusCode != want {
			t.Fatalf("%s: got %s %s, want %d", listener, resp.Status, body, want)
		}
	}
	reload := func(src string) {
		t.Helper()
		cfg, msg := confParse(t, src, t.TempDir())
		if msg != "" {
			t.Fatal(msg)
		}
		if err := gw.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []int{200, 200, 404, 503} {
		send(h1, "web", st, "x-echo-status", strconv.Itoa(st))
	}
	for _, st := range []int{201, 500} {
		send(h2cClient(), "h2c", st, "x-echo-status", strconv.Itoa(st))
	}
	send(h1, "web", 504, "x-echo-delay", "2s") // the plain path's timeout
	send(h1, "dead", 502)                      // handed over: the general path connects
	u := func(class string) want {
		return want{"wasmgate_upstream_responses_total", []string{"upstream", "u", "endpoint", be[0].Addr(), "class", class}, 0}
	}
	fail := func(upstream, ep, reason string, n float64) want {
		return want{"wasmgate_upstream_failures_total", []string{"upstream", upstream, "endpoint", ep, "reason", reason}, n}
	}
	with := func(w want, n float64) want { w.value = n; return w }
	wants := []want{
		with(u("1xx"), 0), with(u("2xx"), 3), with(u("3xx"), 0), with(u("4xx"), 1), with(u("5xx"), 2), with(u("other"), 0),
		fail("u", be[0].Addr(), "timeout", 1), fail("u", be[0].Addr(), "reset", 0), fail("u", be[0].Addr(), "connect", 0),
		fail("d", dead, "connect", 1), fail("d", dead, "timeout", 0),
		{"wasmgate_upstream_responses_total", []string{"upstream", "d", "endpoint", dead, "class", "5xx"}, 0},
	}
	awaitMetrics(t, admin, wants)

	// A reload builds new upstreams; their endpoints count on.
	reload(adminBlock + lst + ups)
	send(h1, "web", 200)
	wants[1].value++
	awaitMetrics(t, admin, wants)

	// Upstream "d" without its endpoint: no series for it any more.
	ups2 := upstreamHCL("u", "round_robin", `timeout = "300ms"`, fmt.Sprintf("%q {}", be[0].Addr())) +
		upstreamHCL("d", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	reload(adminBlock + lst + ups2)
	s := scrapeMetrics(t, admin)
	if got := s.value("wasmgate_upstream_failures_total", "upstream", "d", "endpoint", dead, "reason", "connect"); got != -1 {
		t.Fatalf("a removed endpoint is still reported: %v", got)
	}
	if got := s.value("wasmgate_upstream_responses_total", "upstream", "d", "endpoint", be[0].Addr(), "class", "2xx"); got != 0 {
		t.Fatalf("an endpoint new to upstream d starts at %v, want 0", got)
	}
}
