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
	if listenerOf(t, gw, "web").plain == nil {
		t.Fatal(`listener "web" is not on the plain path`)
	}
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
