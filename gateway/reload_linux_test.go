package gateway

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/wasmgate/wasmgate/gateway/echo"
)

// TestReloadRebuildsListener: a reload that changes what a listener's
// servers were built with (limits, protocols, the plain path) takes effect
// on the same port without a restart.
func TestReloadRebuildsListener(t *testing.T) {
	be := startEcho(t, "e")
	up := upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))

	// Each probe reports what the listener does now.
	plainProbe := func(t *testing.T, gw *Gateway, addr string) string {
		l := listenerOf(t, gw, "web")
		var before int64
		if l.plain != nil {
			before = l.plain.counts().served
		}
		if resp, body := dialRaw(t, addr).do("GET", rawGet("/p")); resp.StatusCode != 200 || echoReply(t, body).Path != "/p" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if l.plain == nil {
			return "general path"
		}
		return "plain path served " + strconv.FormatInt(l.plain.counts().served-before, 10)
	}
	headerProbe := func(t *testing.T, _ *Gateway, addr string) string {
		resp, _ := dialRaw(t, addr).do("GET", rawGet("/h", "X-Pad", strings.Repeat("p", 3000)))
		return strconv.Itoa(resp.StatusCode)
	}
	h2cProbe := func(t *testing.T, _ *Gateway, addr string) string {
		resp, err := h2cClient().Get("http://" + addr + "/2")
		if err != nil {
			return "no h2c"
		}
		_ = resp.Body.Close()
		return resp.Proto + " " + strconv.Itoa(resp.StatusCode)
	}

	tests := []struct {
		name                  string
		before, after         string // attributes of listener "web"
		probe                 func(*testing.T, *Gateway, string) string
		wantBefore, wantAfter string
	}{
		{"plain path off", "", "plain_path = false", plainProbe, "plain path served 1", "general path"},
		{"plain path on", "plain_path = false", "", plainProbe, "general path", "plain path served 1"},
		{"plain path, smaller max_header_size", `max_header_size = "8KiB"`, `max_header_size = "2KiB"`, headerProbe, "200", "431"},
		{"general path, larger max_header_size", "plain_path = false\nmax_header_size = \"2KiB\"", "plain_path = false\nmax_header_size = \"8KiB\"", headerProbe, "431", "200"},
		{"h2c on", "", "http2 = true", h2cProbe, "no h2c", "HTTP/2.0 200"},
		{"h2c off", "http2 = true", "", h2cProbe, "HTTP/2.0 200", "no h2c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw, url := startGateway(t, fmt.Sprintf(webListener, tt.before)+up, Options{})
			addr := strings.TrimPrefix(url, "http://")
			if got := tt.probe(t, gw, addr); got != tt.wantBefore {
				t.Fatalf("before the reload: %s, want %s", got, tt.wantBefore)
			}
			old := listenerOf(t, gw, "web")
			reloadTo(t, gw, fmt.Sprintf(webListener, tt.after)+up)
			if listenerOf(t, gw, "web") == old {
				t.Fatal("the reload kept the old listener")
			}
			if got := tt.probe(t, gw, addr); got != tt.wantAfter {
				t.Fatalf("after the reload: %s, want %s", got, tt.wantAfter)
			}
			// A reload that changes nothing of the listener keeps it.
			kept := listenerOf(t, gw, "web")
			reloadTo(t, gw, fmt.Sprintf(webListener, tt.after)+up)
			if listenerOf(t, gw, "web") != kept {
				t.Fatal("an unchanged listener was rebuilt")
			}
		})
	}
}

// TestReloadRebuildDrains: while a reload replaces the listener, a request
// in flight on the old one completes, and no new connection is refused or
// dropped: the old and the new servers share the socket until the old one
// has drained.
func TestReloadRebuildDrains(t *testing.T) {
	for _, start := range []string{"", "plain_path = false"} {
		after := "plain_path = false"
		if start != "" {
			after = ""
		}
		t.Run("from "+strconv.Quote(start), func(t *testing.T) {
			be := startEcho(t, "e")
			up := upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
			gw, url := startGateway(t, fmt.Sprintf(webListener, start)+up, Options{})
			addr := strings.TrimPrefix(url, "http://")

			before := be[0].Requests()
			slow := dialRaw(t, addr)
			slow.write(rawGet("/slow", "X-Echo-Delay", "400ms"))
			awaitInFlight(t, be[0], before)

			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			duringReload(t, func() error {
				resp, err := client.Get(url + "/n")
				if err != nil {
					return err
				}
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			}, func() {
				reloadTo(t, gw, fmt.Sprintf(webListener, after)+up)
			})

			slow.wantDrained("/slow", "the reload")
		})
	}
}

// TestReloadRebuildsTLSListener: a TLS listener is rebuilt on its socket
// like a plain one (here to turn off HTTP/2, on by default with TLS). With
// HTTP/3 the new servers take over the UDP socket: new limits apply to new
// QUIC connections, HTTP/3 can be turned on and off, a request in flight on
// the old server finishes and new connections succeed throughout.
func TestReloadRebuildsTLSListener(t *testing.T) {
	be := startEcho(t, "e")
	ca := newTestCA(t, "test CA")
	cert, key := ca.issue(t, "site", certOpts{names: []string{"localhost", "127.0.0.1"}})
	src := func(extra string) string {
		return strings.NewReplacer("CERT", cert, "KEY", key).Replace(`
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "https"
  upstream = "u"
  `+extra+`
  tls {
    certificate "site" {
      cert_file = "CERT"
      key_file  = "KEY"
    }
  }
}
`) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	}
	proto := func(t *testing.T, c *http.Client, url string) string {
		resp, body := get(t, c, url)
		if resp.StatusCode != 200 || echoReply(t, body).Path != "/t" {
			t.Fatalf("%s %d %s", resp.Proto, resp.StatusCode, body)
		}
		return resp.Proto
	}
	tc := tlsClientConfig(ca, "localhost")
	// bothClient offers h2 and http/1.1 over ALPN.
	bothClient := func() *http.Client {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetHTTP2(true)
		return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tc.Clone(), Protocols: &p}}
	}

	t.Run("http2 off", func(t *testing.T) {
		gw, addr := startTLSGateway(t, src(""), Options{})
		_, port, _ := net.SplitHostPort(addr)
		url := "https://localhost:" + port + "/t"
		if got := proto(t, bothClient(), url); got != "HTTP/2.0" {
			t.Fatalf("before the reload the client spoke %s, want HTTP/2.0", got)
		}
		old := listenerOf(t, gw, "web")
		reloadTo(t, gw, src("http2 = false"))
		if listenerOf(t, gw, "web") == old {
			t.Fatal("the reload kept the old listener")
		}
		if got := proto(t, bothClient(), url); got != "HTTP/1.1" {
			t.Fatalf("after the reload the client spoke %s, want HTTP/1.1", got)
		}
	})
	t.Run("http3 limits", func(t *testing.T) {
		gw, addr := startTLSGateway(t, src("http3 = true\nmax_header_size = \"2KiB\""), Options{})
		_, port, _ := net.SplitHostPort(addr)
		url := "https://localhost:" + port + "/t"
		// Over the 2 KiB limit, under the default 16 KiB (and the echo
		// backend's 4 KiB).
		pad := strings.Repeat("p", 3000)
		if err := h3Try(tc, url, "X-Pad", pad); err == nil || !strings.Contains(err.Error(), "431") {
			t.Fatalf("before the reload, a 3000-byte field against the 2 KiB limit over HTTP/3: %v, want a 431", err)
		}
		old := listenerOf(t, gw, "web")
		reloadTo(t, gw, src("http3 = true"))
		if listenerOf(t, gw, "web") == old {
			t.Fatal("the reload kept the old listener")
		}
		if err := h3Try(tc, url, "X-Pad", pad); err != nil {
			t.Fatalf("after the reload to the default 16 KiB limit: %v", err)
		}
		if got := proto(t, h1Client(tc.Clone()), url); got != "HTTP/1.1" {
			t.Fatalf("after the reload the client spoke %s, want HTTP/1.1", got)
		}
	})
	t.Run("http3 on", func(t *testing.T) {
		gw, addr := startTLSGateway(t, src(""), Options{})
		_, port, _ := net.SplitHostPort(addr)
		url := "https://localhost:" + port + "/t"
		if err := h3Try(tc, url); err == nil {
			t.Fatal("HTTP/3 answered before it was configured")
		}
		reloadTo(t, gw, src("http3 = true"))
		if err := h3Try(tc, url); err != nil {
			t.Fatalf("after the reload that turned HTTP/3 on: %v", err)
		}
		resp, _ := get(t, h1Client(tc.Clone()), url)
		if got, want := resp.Header.Get("Alt-Svc"), `h3=":`+port+`"; ma=86400`; got != want {
			t.Fatalf("Alt-Svc = %q, want %q", got, want)
		}
	})
	t.Run("http3 off", func(t *testing.T) {
		gw, addr := startTLSGateway(t, src("http3 = true"), Options{})
		_, port, _ := net.SplitHostPort(addr)
		url := "https://localhost:" + port + "/t"
		if err := h3Try(tc, url); err != nil {
			t.Fatal(err)
		}
		reloadTo(t, gw, src(""))
		if err := h3Try(tc, url); err == nil {
			t.Fatal("HTTP/3 still answered after the reload that turned it off")
		}
		resp, _ := get(t, h1Client(tc.Clone()), url)
		if got := resp.Header.Get("Alt-Svc"); got != "" {
			t.Fatalf("Alt-Svc = %q after HTTP/3 was turned off", got)
		}
		// The UDP port is free again: the old servers let go of it.
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatalf("the UDP port is still held: %v", err)
		}
		_ = pc.Close()
	})
	t.Run("http3 drains", func(t *testing.T) {
		gw, addr := startTLSGateway(t, src("http3 = true"), Options{})
		_, port, _ := net.SplitHostPort(addr)
		url := "https://localhost:" + port + "/t"
		c := h3Client(t, tc.Clone())
		slow := make(chan error, 1)
		// The backend is shared by the subtests: wait for one more request.
		before := be[0].Requests()
		go func() { slow <- getOK(c, url, "X-Echo-Delay", "400ms") }()
		awaitInFlight(t, be[0], before)
		old := listenerOf(t, gw, "web")
		duringReload(t, func() error { return h3Try(tc, url) }, func() {
			reloadTo(t, gw, src("http3 = true\nmax_header_size = \"8KiB\""))
		})
		if listenerOf(t, gw, "web") == old {
			t.Fatal("the reload kept the old listener")
		}
		if err := <-slow; err != nil {
			t.Fatalf("the HTTP/3 request in flight across the reload: %v", err)
		}
		if err := h3Try(tc, url); err != nil {
			t.Fatalf("a new HTTP/3 connection after the reload: %v", err)
		}
	})
}

// awaitInFlight waits until be has begun more than before requests, so
// that a reload starts with the one just sent in flight.
func awaitInFlight(t *testing.T, be *echo.Server, before int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); be.Requests() <= before; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow request did not reach the backend")
		}
	}
}

// duringReload makes new connections with connect, in two loops, all
// through reload, and fails t if one fails or none was made.
func duringReload(t *testing.T, connect func() error, reload func()) {
	t.Helper()
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		okCount  atomic.Int64
		failures = make(chan error, 2)
	)
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()
	for range 2 {
		wg.Go(func() {
			for i := 0; i < 2000 && !stop.Load(); i++ {
				if err := connect(); err != nil {
					failures <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
				okCount.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	reload()
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-failures:
		t.Fatalf("a new connection failed during the reload: %v", err)
	default:
	}
	if okCount.Load() == 0 {
		t.Fatal("no connection was made during the reload")
	}
}

// h3Try makes one HTTP/3 GET on a new connection, with headers given as
// name, value pairs, and returns why it did not get a 200 over HTTP/3. A
// server that does not answer fails the handshake within a second.
func h3Try(tc *tls.Config, url string, hdr ...string) error {
	tr := &http3.Transport{TLSClientConfig: tc.Clone(), QUICConfig: &quic.Config{HandshakeIdleTimeout: time.Second}}
	defer tr.Close()
	return getOK(&http.Client{Timeout: 10 * time.Second, Transport: tr}, url, hdr...)
}

// getOK makes a GET with c, headers given as name, value pairs, reads the
// body, and returns why it did not get a 200 in the protocol c speaks
// (HTTP/3.0 for an http3.Transport). Safe on any goroutine.
func getOK(c *http.Client, url string, hdr ...string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		return err
	}
	if _, h3 := c.Transport.(*http3.Transport); resp.StatusCode != 200 || h3 && resp.Proto != "HTTP/3.0" {
		return fmt.Errorf("%s %d", resp.Proto, resp.StatusCode)
	}
	return nil
}
