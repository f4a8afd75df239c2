package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The traffic-management blocks of an upstream, end to end through HCL:
// cookie affinity, active health checks and a circuit breaker's 503.
func TestTrafficManagementConfig(t *testing.T) {
	be := startEcho(t, "a", "b", "c")
	eps := []string{}
	for _, b := range be {
		eps = append(eps, fmt.Sprintf("%q {}", b.Addr()))
	}

	t.Run("cookie affinity", func(t *testing.T) {
		src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "round_robin",
			`affinity {
  type = "cookie"
  ttl  = "1h"
  key  = "0123456789abcdef0123"
}`, eps...)
		_, url := startGateway(t, src, Options{})
		c := newClient()
		resp, _ := get(t, c, url+"/")
		sc := resp.Header.Get("Set-Cookie")
		if !strings.HasPrefix(sc, "wg_affinity=") || !strings.Contains(sc, "Max-Age=3600") || !strings.Contains(sc, "HttpOnly") {
			t.Fatalf("Set-Cookie = %q", sc)
		}
		cookie := strings.SplitN(sc, ";", 2)[0]
		first := resp.Header.Get("X-Backend")
		for range 10 {
			resp, _ := get(t, c, url+"/", "Cookie", cookie)
			if b := resp.Header.Get("X-Backend"); b != first {
				t.Fatalf("cookie for %s answered by %s", first, b)
			}
		}
	})

	t.Run("health check takes a dead endpoint out", func(t *testing.T) {
		src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "round_robin",
			`health_check {
  protocol  = "tcp"
  interval  = "50ms"
  timeout   = "40ms"
  unhealthy = 1
}
retry { attempts = 0 }`, append([]string{fmt.Sprintf("%q {}", deadAddr(t))}, eps[0])...)
		_, url := startGateway(t, src, Options{})
		c := newClient()
		// Within a few intervals the dead endpoint is out; from then on,
		// without retries, nothing fails.
		deadline := time.Now().Add(5 * time.Second)
		for ok := 0; ok < 20; {
			resp, _ := get(t, c, url+"/")
			if resp.StatusCode == 200 {
				ok++
				continue
			}
			ok = 0
			if time.Now().After(deadline) {
				t.Fatalf("still %d after 5s", resp.StatusCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("circuit breaker", func(t *testing.T) {
		src := fmt.Sprintf(webListener, "") + upstreamHCL("u", "round_robin",
			`circuit_breaker { max_requests = 1 }`, eps[0])
		_, url := startGateway(t, src, Options{})
		c := newClient()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", url+"/", nil)
			req.Header.Set("X-Echo-Delay", "500ms")
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		var resp *http.Response
		for range 100 {
			time.Sleep(10 * time.Millisecond)
			if resp, _ = get(t, c, url+"/"); resp.StatusCode == 503 {
				break
			}
		}
		if resp.StatusCode != 503 || resp.Header.Get("X-Wasmgate-Reason") != "circuit breaker: max_requests" {
			t.Errorf("with one request in flight and max_requests = 1: %d %q", resp.StatusCode, resp.Header.Get("X-Wasmgate-Reason"))
		}
		wg.Wait()
		if resp, _ := get(t, c, url+"/"); resp.StatusCode != 200 {
			t.Errorf("after the slow request: %d", resp.StatusCode)
		}
	})
}
