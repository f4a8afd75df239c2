package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one parsed /metrics answer.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics reads admin's /metrics and parses it with Prometheus' own
// text parser, so a malformed exposition fails the test.
func scrapeMetrics(t *testing.T, admin net.Addr) scrape {
	t.Helper()
	resp, err := http.Get("http://" + admin.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("/metrics content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// metric returns the sample of family name whose labels include pairs.
func (s scrape) metric(name string, pairs ...string) *dto.Metric {
	f := s[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(pairs); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == pairs[i] && lp.GetValue() == pairs[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value returns a counter's or gauge's value, -1 when there is no such
// sample.
func (s scrape) value(name string, pairs ...string) float64 {
	m := s.metric(name, pairs...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

// want is one expected sample: a family, its labels and its value.
type want struct {
	name   string
	labels []string
	value  float64
}

// awaitMetrics scrapes until every wanted sample has its value (counters
// of bytes and closes are added just after the socket call the client
// sees), and fails after 5 s with the ones that do not.
func awaitMetrics(t *testing.T, admin net.Addr, wants []want) scrape {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := scrapeMetrics(t, admin)
		var bad []string
		for _, w := range wants {
			if got := s.value(w.name, w.labels...); got != w.value {
				bad = append(bad, fmt.Sprintf("%s%v = %v, want %v", w.name, w.labels, got, w.value))
			}
		}
		if len(bad) == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics after 5s:\n%s", strings.Join(bad, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingConn counts what the client reads and writes.
type countingConn struct {
	net.Conn
	in, out int
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in += n
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out += n
	return n, err
}

const adminBlock = `
admin {
  address = "127.0.0.1:0"
}
`

// TestMetricsCountHTTP1Exactly: on both HTTP/1.1 paths, the metrics count
// exactly the bytes the client wrote and read, the connection, each
// response's class and code, and its duration; also when the plain path
// hands a connection to the general path midway (a request with a body).
func TestMetricsCountHTTP1Exactly(t *testing.T) {
	be := startEcho(t, "one")
	src := adminBlock + fmt.Sprintf(webListener, "") + `
listener "gen" {
  address    = "127.0.0.1:0"
  upstream   = "u"
  plain_path = false
}
` + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	gw, _ := startGateway(t, src, Options{})
	admin := gw.AdminAddr()
	if admin == nil {
		t.Fatal("no admin listener")
	}
	get := func(status string) string {
		return "GET /x HTTP/1.1\r\nHost: example.test\r\nx-echo-status: " + status + "\r\n\r\n"
	}
	post := "POST /up HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n\r\nhello"
	for _, tc := range []struct {
		name, listener string
		requests       []string
		classes        map[string]float64
		codes          map[string]float64
	}{
		{"plain path", "web", []string{get("200"), get("404"), get("200"), get("503")},
			map[string]float64{"2xx": 2, "4xx": 1, "5xx": 1}, map[string]float64{"404": 1}},
		{"handed off", "web", []string{post, get("404"), get("502")},
			map[string]float64{"2xx": 1, "4xx": 1, "5xx": 1}, map[string]float64{"404": 1, "502": 1}},
		{"general path", "gen", []string{get("200"), get("302"), post, get("404"), get("404")},
			map[string]float64{"2xx": 2, "3xx": 1, "4xx": 2}, map[string]float64{"404": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := scrapeMetrics(t, admin)
			delta := func(name string, v float64, pairs ...string) want {
				pairs = append([]string{"listener", tc.listener}, pairs...)
				return want{name, pairs, max(before.value(name, pairs...), 0) + v}
			}
			raw, err := net.Dial("tcp", gw.Addr(tc.listener).String())
			if err != nil {
				t.Fatal(err)
			}
			c := &countingConn{Conn: raw}
			br := bufio.NewReader(c)
			for _, req := range tc.requests {
				if _, err := io.WriteString(c, req); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			wants := []want{
				delta("wasmgate_connections_accepted_total", 1),
				delta("wasmgate_connections_open", 1),
				delta("wasmgate_received_bytes_total", float64(c.out)),
				delta("wasmgate_sent_bytes_total", float64(c.in)),
			}
			for _, class := range []string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"} {
				wants = append(wants, delta("wasmgate_responses_total", tc.classes[class], "class", class))
			}
			for _, code := range []string{"404", "499", "502"} {
				wants = append(wants, delta("wasmgate_responses_by_code_total", tc.codes[code], "code", code))
			}
			s := awaitMetrics(t, admin, wants)
			h := s.metric("wasmgate_request_duration_seconds", "listener", tc.listener).GetHistogram()
			h0 := before.metric("wasmgate_request_duration_seconds", "listener", tc.listener).GetHistogram()
			if got := h.GetSampleCount() - h0.GetSampleCount(); got != uint64(len(tc.requests)) {
				t.Errorf("duration histogram counted %d requests, want %d", got, len(tc.requests))
			}
			if h.GetSampleSum() <= h0.GetSampleSum() {
				t.Errorf("duration sum did not grow: %v then %v", h0.GetSampleSum(), h.GetSampleSum())
			}
			// Cumulative buckets, the last one +Inf and all the samples.
			b := h.GetBucket()
			if len(b) != 13 || b[12].GetCumulativeCount() != h.GetSampleCount() || !math.IsInf(b[12].GetUpperBound(), 1) {
				t.Errorf("buckets: %v", b)
			}
			for i := 1; i < len(b); i++ {
				if b[i].GetCumulativeCount() < b[i-1].GetCumulativeCount() {
					t.Errorf("bucket %d below the one before: %v", i, b)
				}
			}
			_ = raw.Close()
			awaitMetrics(t, admin, []want{delta("wasmgate_connections_open", 0)})
		})
	}
}

// startH3Gateway serves an admin listener and an https listener "web" with
// HTTP/3 in front of upstream "u" (one echo endpoint, upstreamExtra in its
// block), and returns the gateway, the echo endpoint, the web port and a
// client TLS config that trusts the gateway.
func startH3Gateway(t *testing.T, upstreamExtra string) (*Gateway, string, string, *tls.Config) {
	t.Helper()
	be := startEcho(t, "one")
	ca := newTestCA(t, "test CA")
	cert, key := ca.issue(t, "site", certOpts{names: []string{"localhost"}})
	src := adminBlock + `
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "https"
  http3    = true
  upstream = "u"
  tls {
    certificate "site" {
      cert_file = "CERT"
      key_file  = "KEY"
    }
  }
}
` + upstreamHCL("u", "round_robin", upstreamExtra, fmt.Sprintf("%q {}", be[0].Addr()))
	gw, addr := startTLSGateway(t, src, Options{}, "CERT", cert, "KEY", key)
	_, port, _ := net.SplitHostPort(addr)
	return gw, be[0].Addr(), port, tlsClientConfig(ca, "localhost")
}

// TestMetricsOverTLSH2H3: HTTP/1.1 over TLS, HTTP/2 and HTTP/3 count their
// responses and connections on the listener too.
func TestMetricsOverTLSH2H3(t *testing.T) {
	gw, _, port, tc := startH3Gateway(t, "")
	url := "https://localhost:" + port + "/"
	admin := gw.AdminAddr()
	for _, p := range []struct {
		name   string
		client *http.Client
		proto  string
	}{
		{"h1", h1Client(tc), "HTTP/1.1"},
		{"h2", h2Client(tc), "HTTP/2.0"},
		{"h3", h3Client(t, tc), "HTTP/3.0"},
	} {
		t.Run(p.name, func(t *testing.T) {
			before := scrapeMetrics(t, admin)
			for _, status := range []string{"200", "404", "201"} {
				resp, _ := get(t, p.client, url, "x-echo-status", status)
				if resp.Proto != p.proto || resp.Status[:3] != status {
					t.Fatalf("got %s %s", resp.Proto, resp.Status)
				}
			}
			l := []string{"listener", "web"}
			v := func(name string, pairs ...string) float64 { return max(before.value(name, append(l, pairs...)...), 0) }
			wants := []want{
				{"wasmgate_connections_accepted_total", l, v("wasmgate_connections_accepted_total") + 1},
				{"wasmgate_responses_total", append(l, "class", "2xx"), v("wasmgate_responses_total", "class", "2xx") + 2},
				{"wasmgate_responses_total", append(l, "class", "4xx"), v("wasmgate_responses_total", "class", "4xx") + 1},
				{"wasmgate_responses_by_code_total", append(l, "code", "404"), v("wasmgate_responses_by_code_total", "code", "404") + 1},
			}
			s := awaitMetrics(t, admin, wants)
			if got, was := s.value("wasmgate_connections_open", l...), v("wasmgate_connections_open"); got != was+1 {
				t.Errorf("connections open: %v, was %v", got, was)
			}
			// The client's idle connection closes: on TCP the bytes are
			// counted as they go, on QUIC when the connection ends.
			p.client.CloseIdleConnections()
			if tr, ok := p.client.Transport.(interface{ Close() error }); ok {
				_ = tr.Close()
			}
			s = awaitMetrics(t, admin, []want{{"wasmgate_connections_open", l, v("wasmgate_connections_open")}})
			for _, name := range []string{"wasmgate_received_bytes_total", "wasmgate_sent_bytes_total"} {
				if got := s.value(name, l...); got < v(name)+500 {
					t.Errorf("%s grew by %v, want a TLS handshake's worth at least", name, got-v(name))
				}
			}
		})
	}
}

// TestClientCancelEndsUpstreamTry: an HTTP/2 or HTTP/3 client that resets
// its stream while the gateway waits for the upstream's response head ends
// the upstream try at once, as Envoy resets the upstream request: the
// endpoint's in-flight count drops back long before the backend's 10 s
// answer, the request counts as 499, and the endpoint, with outlier
// detection at one failure, is not ejected for it.
func TestClientCancelEndsUpstreamTry(t *testing.T) {
	gw, be, port, tc := startH3Gateway(t, `outlier {
  consecutive_5xx      = 1
  max_ejection_percent = 100
}`)
	admin := gw.AdminAddr()
	inFlight := []string{"upstream", "u", "endpoint", be}
	for i, p := range []struct {
		name   string
		client *http.Client
	}{
		{"h2", h2Client(tc)},
		{"h3", h3Client(t, tc)},
	} {
		t.Run(p.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://localhost:"+port+"/slow", nil)
			req.Header.Set("x-echo-delay", "10s")
			errc := make(chan error, 1)
			go func() {
				resp, err := p.client.Do(req)
				if err == nil {
					resp.Body.Close()
					err = fmt.Errorf("not cancelled: %s", resp.Status)
				}
				errc <- err
			}()
			awaitMetrics(t, admin, []want{{"wasmgate_upstream_endpoint_requests_in_flight", inFlight, 1}})
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("client: %v, want it cancelled", err)
			}
			awaitMetrics(t, admin, []want{
				{"wasmgate_upstream_endpoint_requests_in_flight", inFlight, 0},
				{"wasmgate_responses_by_code_total", []string{"listener", "web", "code", "499"}, float64(i + 1)},
				{"wasmgate_upstream_endpoint_up", inFlight, 1},
			})
			// The endpoint still takes requests.
			if resp, body := get(t, p.client, "https://localhost:"+port+"/after"); resp.StatusCode != 200 {
				t.Fatalf("next request: %s %s", resp.Status, body)
			}
		})
	}
}

// TestMetricsAdmin: upstream health, configuration loads, counters kept
// across a reload that rebuilds the listener, the admin listener moving
// with a reload, its allow list, and /ready.
func TestMetricsAdmin(t *testing.T) {
	be := startEcho(t, "one")
	dead := deadAddr(t)
	ups := upstreamHCL("u", "round_robin", `health_check {
  protocol  = "tcp"
  interval  = "50ms"
  timeout   = "40ms"
  unhealthy = 1
}`, fmt.Sprintf("%q {}", be[0].Addr()), fmt.Sprintf("%q {}", dead))
	gone := `
listener "gone" {
  address  = "127.0.0.1:0"
  upstream = "u"
}
`
	gw, url := startGateway(t, adminBlock+fmt.Sprintf(webListener, "")+gone+ups, Options{})
	admin := gw.AdminAddr()
	u := []string{"upstream", "u"}
	awaitMetrics(t, admin, []want{
		{"wasmgate_upstream_endpoints", append(u, "state", "healthy"), 1},
		{"wasmgate_upstream_endpoints", append(u, "state", "unhealthy"), 1},
		{"wasmgate_upstream_endpoint_up", append(u, "endpoint", be[0].Addr()), 1},
		{"wasmgate_upstream_endpoint_up", append(u, "endpoint", dead), 0},
		{"wasmgate_upstream_endpoint_requests_in_flight", append(u, "endpoint", be[0].Addr()), 0},
		{"wasmgate_config_loads_total", []string{"result", "success"}, 1},
		{"wasmgate_config_loads_total", []string{"result", "failure"}, 0},
		{"wasmgate_config_last_load_successful", nil, 1},
	})
	// A request in flight shows on its endpoint.
	c := newClient()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, url+"/slow", nil)
		req.Header.Set("x-echo-delay", "600ms")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	awaitMetrics(t, admin, []want{{"wasmgate_upstream_endpoint_requests_in_flight", append(u, "endpoint", be[0].Addr()), 1}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	awaitMetrics(t, admin, []want{{"wasmgate_upstream_endpoint_requests_in_flight", append(u, "endpoint", be[0].Addr()), 0}})
	resp, _ := get(t, c, url+"/", "x-echo-status", "404")
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ready, err := http.Get("http://" + admin.String() + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	ready.Body.Close()
	if ready.StatusCode != 200 {
		t.Fatalf("/ready: %s", ready.Status)
	}

	// A reload that rebuilds the listener keeps its counters, and moves
	// the admin listener to a new port with an allow list that shuts
	// 127.0.0.1 out.
	before := scrapeMetrics(t, admin)
	notFound := before.value("wasmgate_responses_by_code_total", "listener", "web", "code", "404")
	if notFound != 1 {
		t.Fatalf("404s before the reload: %v", notFound)
	}
	moved := strings.Replace(adminBlock, `"127.0.0.1:0"`, `"127.0.0.2:0"`, 1)
	reloadTo(t, gw, moved+fmt.Sprintf(webListener, `max_header_size = "8KiB"`)+ups)
	if _, err := http.Get("http://" + admin.String() + "/metrics"); err == nil {
		t.Fatal("the old admin address still answers")
	}
	admin2 := gw.AdminAddr()
	s := awaitMetrics(t, admin2, []want{
		{"wasmgate_responses_by_code_total", []string{"listener", "web", "code", "404"}, 1},
		{"wasmgate_config_loads_total", []string{"result", "success"}, 2},
	})
	if got, was := s.value("wasmgate_connections_accepted_total", "listener", "web"), before.value("wasmgate_connections_accepted_total", "listener", "web"); got != was {
		t.Errorf("accepted connections %v after the reload, %v before", got, was)
	}
	// The listener the reload removed is no longer reported.
	if before.metric("wasmgate_responses_total", "listener", "gone") == nil {
		t.Error(`listener "gone" not reported before the reload`)
	}
	if s.metric("wasmgate_responses_total", "listener", "gone") != nil || s.metric("wasmgate_connections_open", "listener", "gone") != nil {
		t.Error(`listener "gone" still reported after the reload removed it`)
	}

	// A reload that fails to bind counts as a failed load and changes
	// nothing.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg, msg := confParse(t, strings.Replace(moved, `"127.0.0.2:0"`, fmt.Sprintf("%q", busy.Addr()), 1)+fmt.Sprintf(webListener, "")+ups, t.TempDir())
	if msg != "" {
		t.Fatal(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.Reload(ctx, cfg); err == nil {
		t.Fatal("a reload onto a busy admin address succeeded")
	}
	gw.RejectedConfig() // what wasmgate run does with a config that does not parse
	awaitMetrics(t, admin2, []want{
		{"wasmgate_config_loads_total", []string{"result", "failure"}, 2},
		{"wasmgate_config_last_load_successful", nil, 0},
	})

	// An allow list without the client's address: 403.
	reloadTo(t, gw, strings.Replace(moved, "}", `  allow = ["10.0.0.0/8"]
}`, 1)+fmt.Sprintf(webListener, "")+ups)
	if gw.AdminAddr().String() != admin2.String() {
		t.Fatalf("the admin listener moved from %s to %s without a new address", admin2, gw.AdminAddr())
	}
	resp, err = http.Get("http://" + admin2.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("/metrics from outside the allow list: %s", resp.Status)
	}

	// Without the admin block, the admin listener closes.
	reloadTo(t, gw, fmt.Sprintf(webListener, "")+ups)
	if gw.AdminAddr() != nil {
		t.Fatal("the admin listener outlived its block")
	}
	if _, err := http.Get("http://" + admin2.String() + "/metrics"); err == nil {
		t.Fatal("the admin address still answers")
	}
}

// TestStatShardResponse: statuses land in their class (and the watched
// codes), durations in the first bucket whose bound they do not exceed.
func TestStatShardResponse(t *testing.T) {
	for _, tc := range []struct {
		status int
		d      time.Duration
		class  int // index in statShard.classes
		bucket int
		code   func(*statShard) uint64
	}{
		{200, 0, 1, 0, nil},
		{101, time.Millisecond, 0, 0, nil},
		{302, time.Millisecond + time.Microsecond, 2, 1, nil},
		{404, 7 * time.Millisecond, 3, 3, func(s *statShard) uint64 { return s.notFound.Load() }},
		{499, 5 * time.Second, 3, 11, func(s *statShard) uint64 { return s.clientClosed.Load() }},
		{502, 6 * time.Second, 4, 12, func(s *statShard) uint64 { return s.badGateway.Load() }},
		{599, -time.Second, 4, 0, nil},
		{600, time.Hour, 5, 12, nil},
		{0, 0, 5, 0, nil},
	} {
		var s statShard
		s.response(tc.status, tc.d)
		for i := range s.classes {
			if got, want := s.classes[i].Load(), uint64(btoi(i == tc.class)); got != want {
				t.Errorf("%d: class %d counted %d, want %d", tc.status, i, got, want)
			}
		}
		for i := range s.buckets {
			if got, want := s.buckets[i].Load(), uint64(btoi(i == tc.bucket)); got != want {
				t.Errorf("%d in %v: bucket %d counted %d, want %d", tc.status, tc.d, i, got, want)
			}
		}
		if tc.code != nil && tc.code(&s) != 1 {
			t.Errorf("%d not counted by code", tc.status)
		}
		if got := s.notFound.Load() + s.clientClosed.Load() + s.badGateway.Load(); tc.code == nil && got != 0 {
			t.Errorf("%d counted by code", tc.status)
		}
		if got, want := s.durationSum.Load(), uint64(max(tc.d.Microseconds(), 0)); got != want {
			t.Errorf("%v summed as %d µs", tc.d, got)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestPromLabelEscaping: label values with backslashes, quotes and line
// feeds come back intact through Prometheus' parser.
func TestPromLabelEscaping(t *testing.T) {
	for _, v := range []string{`plain`, `a\b`, `say "hi"`, "two\nlines", `[::1]:80`, ``} {
		var b strings.Builder
		bw := bufio.NewWriter(&b)
		m := promWriter{w: bw}
		m.family("x_total", "counter", "A help\\text\nwith a line feed.")
		m.sample("x_total", 3, "v", v)
		_ = bw.Flush()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("%q: %v\n%s", v, err, b.String())
		}
		if got := scrape(fams).value("x_total", "v", v); got != 3 {
			t.Errorf("%q: value %v\n%s", v, got, b.String())
		}
		if got := fams["x_total"].GetHelp(); got != "A help\\text\nwith a line feed." {
			t.Errorf("help %q", got)
		}
	}
}

// BenchmarkStatShardResponse is what the metrics add to every response on
// the request path.
func BenchmarkStatShardResponse(b *testing.B) {
	var s statShard
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.response(200+i%4*100, time.Duration(i%2000)*time.Microsecond)
	}
}
