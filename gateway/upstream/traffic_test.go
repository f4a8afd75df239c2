package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/balancer"
)

// backend is a net/http endpoint on loopback that can be killed (listener
// and every connection closed) and brought back on the same address.
// /healthz answers with the status in health; other paths count a hit and
// answer 200 with X-Backend: name, unless handle is set.
type backend struct {
	t      *testing.T
	name   string
	addr   string
	hits   atomic.Int64
	health atomic.Int32
	handle func(b *backend, w http.ResponseWriter, r *http.Request)

	mu  sync.Mutex
	srv *http.Server
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{t: t, name: name}
	b.health.Store(200)
	b.start()
	t.Cleanup(b.kill)
	return b
}

func (b *backend) start() {
	b.t.Helper()
	addr := b.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger a moment after a kill
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("backend %s: %v", b.name, err)
	}
	b.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(b.serve)}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go srv.Serve(ln)
}

func (b *backend) kill() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.WriteHeader(int(b.health.Load()))
		return
	}
	b.hits.Add(1)
	w.Header().Set("X-Backend", b.name)
	if b.handle != nil {
		b.handle(b, w, r)
		return
	}
	w.Write([]byte("ok"))
}

// outcomeOf is what a client saw.
type outcomeOf struct {
	status    int
	backend   string
	setCookie string            // the wg_affinity Set-Cookie, if any
	cookies   map[string]string // every Set-Cookie by name
	err       error
}

// do forwards one request built by prep (a GET of / by default).
func do(u *Upstream, call *Call, prep func(req *fasthttp.Request)) outcomeOf {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("GET")
	req.SetRequestURI("/")
	req.Header.SetHost("app.test")
	if prep != nil {
		prep(req)
	}
	if call == nil {
		call = &Call{}
	}
	err := u.Forward(context.Background(), req, resp, call)
	if err != nil {
		return outcomeOf{err: err}
	}
	r := outcomeOf{status: resp.StatusCode(), backend: string(resp.Header.Peek("X-Backend"))}
	r.cookies = map[string]string{}
	for k, v := range resp.Header.Cookies() {
		r.cookies[string(k)] = string(v)
	}
	r.setCookie = r.cookies["wg_affinity"]
	_ = resp.CloseBodyStream()
	return r
}

// waitFor polls cond every 5ms for at most limit; it reports how long it
// took and whether cond became true.
func waitFor(limit time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit {
		if cond() {
			return time.Since(start), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start), cond()
}

func addrs(bs ...*backend) []EndpointConfig {
	eps := make([]EndpointConfig, len(bs))
	for i, b := range bs {
		eps[i] = EndpointConfig{Address: b.addr, Weight: 1}
	}
	return eps
}

// load runs workers goroutines sending GETs for at most d (and at most
// max requests each) and counts the failures.
func load(u *Upstream, workers int, d time.Duration, max int) (total, failed int64, firstErr atomic.Value) {
	var wg sync.WaitGroup
	var tot, bad atomic.Int64
	end := time.Now().Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < max && time.Now().Before(end); i++ {
				r := do(u, nil, nil)
				tot.Add(1)
				if r.err != nil || r.status != 200 {
					bad.Add(1)
					if r.err != nil {
						firstErr.CompareAndSwap(nil, r.err.Error())
					} else {
						firstErr.CompareAndSwap(nil, "status "+http.StatusText(r.status))
					}
				}
			}
		}()
	}
	wg.Wait()
	return tot.Load(), bad.Load(), firstErr
}

// The acceptance test of issue 8: under steady GET load, one of three
// endpoints dies (listener and connections closed). No client sees a
// failure, active checks take the endpoint out within interval ×
// unhealthy threshold (plus one interval of jitter and the check timeout),
// and it rejoins once it is back.
func TestKillEndpointUnderLoad(t *testing.T) {
	t.Run("active checks", func(t *testing.T) { killUnderLoad(t, nil) })
	t.Run("active checks and outlier detection", func(t *testing.T) {
		killUnderLoad(t, &Outlier{BaseEjectionTime: 200 * time.Millisecond, MaxEjectionPercent: 50})
	})
}

func killUnderLoad(t *testing.T, outlier *Outlier) {
	bs := []*backend{newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")}
	const interval, unhealthy = 100 * time.Millisecond, 2
	u := newUpstream(t, Config{
		Endpoints:     addrs(bs...),
		RetryAttempts: 2,
		RetryOn:       RetryConnectFailure | RetryReset | RetryGatewayError,
		// Four workers may all meet the dying endpoint at once.
		RetryMinConcurrency: 4,
		HealthCheck:         &HealthCheck{Path: "/healthz", Interval: interval, Timeout: 50 * time.Millisecond, Healthy: 2, Unhealthy: unhealthy},
		Outlier:             outlier,
	})
	victim := u.Endpoints()[1]

	type outcome struct {
		total, failed int64
		err           any
	}
	done := make(chan outcome, 1)
	go func() {
		tot, bad, e := load(u, 4, 2*time.Second, 20000)
		done <- outcome{tot, bad, e.Load()}
	}()
	time.Sleep(500 * time.Millisecond)
	bs[1].kill()
	took, ok := waitFor(5*time.Second, func() bool { return !victim.Healthy() })
	if !ok {
		t.Fatalf("killed endpoint still healthy after %v", took)
	}
	// interval × threshold, plus the ±10% jitter of each interval and the
	// check in progress when the endpoint died.
	bound := interval*unhealthy + interval/10*unhealthy + interval
	t.Logf("killed endpoint out of balancing after %v (interval × threshold: %v; bound with jitter %v)", took, interval*unhealthy, bound)
	// Timing is reported, not asserted (a loaded machine may starve the
	// checker); what is asserted is that it took exactly the threshold of
	// failed checks, or outlier detection got there first.
	if h := u.Health()[1]; outlier == nil && h.ConsecutiveFailures < unhealthy {
		t.Errorf("out after %d failed checks, threshold %d", h.ConsecutiveFailures, unhealthy)
	}
	time.Sleep(300 * time.Millisecond)
	hitsWhileDown := bs[1].hits.Load()
	bs[1].start()
	took, ok = waitFor(5*time.Second, func() bool { return victim.Healthy() })
	if !ok {
		t.Fatalf("endpoint back but not healthy after %v", took)
	}
	t.Logf("revived endpoint healthy after %v", took)
	o := <-done
	t.Logf("%d requests, %d failed", o.total, o.failed)
	if o.failed != 0 {
		t.Errorf("%d of %d requests failed (first: %v)", o.failed, o.total, o.err)
	}
	// It takes traffic again.
	before := bs[1].hits.Load()
	for range 30 {
		do(u, nil, nil)
	}
	if bs[1].hits.Load() == before {
		t.Errorf("revived endpoint takes no traffic (hits %d while down)", hitsWhileDown)
	}
	h := u.Health()
	if len(h) != 3 || !h[1].Healthy || !h[1].Checked || h[1].LastChange.IsZero() {
		t.Errorf("Health()[1] = %+v", h[1])
	}
}

// An endpoint that keeps dying and coming back: clients never notice, and
// every cycle is seen by the health state.
func TestFlappingEndpoint(t *testing.T) {
	bs := []*backend{newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")}
	u := newUpstream(t, Config{
		Endpoints:           addrs(bs...),
		RetryAttempts:       2,
		RetryOn:             RetryConnectFailure | RetryReset | RetryGatewayError,
		RetryMinConcurrency: 4,
		// Generous check timeouts: on a loaded 2-core machine (or under
		// -race) a 30 ms check of a healthy endpoint can miss, and with all
		// three down the upstream rightly answers "no healthy endpoint".
		HealthCheck: &HealthCheck{Path: "/healthz", Interval: 60 * time.Millisecond, Timeout: 50 * time.Millisecond, Healthy: 1, Unhealthy: 2},
	})
	flapper := u.Endpoints()[2]
	done := make(chan [2]int64, 1)
	var first atomic.Value
	go func() {
		tot, bad, fe := load(u, 4, 2*time.Second, 20000)
		if v := fe.Load(); v != nil {
			first.Store(v)
		}
		done <- [2]int64{tot, bad}
	}()
	downs, ups := 0, 0
	for range 3 {
		time.Sleep(150 * time.Millisecond)
		bs[2].kill()
		if _, ok := waitFor(3*time.Second, func() bool { return !flapper.Healthy() }); ok {
			downs++
		}
		bs[2].start()
		if _, ok := waitFor(3*time.Second, flapper.Healthy); ok {
			ups++
		}
	}
	r := <-done
	if downs != 3 || ups != 3 {
		t.Errorf("saw %d downs and %d ups of 3 cycles", downs, ups)
	}
	if r[1] != 0 {
		t.Errorf("%d of %d requests failed while an endpoint flapped; first: %v", r[1], r[0], first.Load())
	}
	t.Logf("%d requests through 3 flaps", r[0])
}

// Active check details: default success codes (401 is healthy), a failing
// status, TCP checks, a port override, pessimistic start (live after one
// success) and weight-0 endpoints left unchecked.
func TestHealthCheckKinds(t *testing.T) {
	b := newBackend(t, "a")
	b.health.Store(401)
	checks := func(hc HealthCheck) *Upstream {
		hc.Interval, hc.Timeout = 30*time.Millisecond, 25*time.Millisecond
		return newUpstream(t, Config{Endpoints: addrs(b), HealthCheck: &hc})
	}

	u := checks(HealthCheck{Path: "/healthz", StartUnhealthy: true, Healthy: 3})
	if u.Endpoints()[0].Healthy() {
		t.Error("pessimistic start: healthy before any check")
	}
	if _, ok := waitFor(3*time.Second, u.Endpoints()[0].Healthy); !ok {
		t.Fatal("401 is a default success code, yet the endpoint never became healthy")
	}
	if h := u.Health()[0]; h.ConsecutiveSuccesses > 2 {
		t.Errorf("a new endpoint needs one success, it took %d", h.ConsecutiveSuccesses)
	}
	b.health.Store(500)
	if _, ok := waitFor(3*time.Second, func() bool { return !u.Endpoints()[0].Healthy() }); !ok {
		t.Fatal("500 from the health check did not take the endpoint out")
	}
	if h := u.Health()[0]; h.LastError != "unhealthy status 500" || h.ActiveHealthy {
		t.Errorf("Health = %+v", h)
	}
	b.health.Store(200)

	// TCP: a closed port fails, whatever HTTP says.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	u = newUpstream(t, Config{
		Endpoints:   []EndpointConfig{{Address: b.addr, Weight: 1}, {Address: deadAddr, Weight: 1}, {Address: "127.0.0.1:1", Weight: 0}},
		HealthCheck: &HealthCheck{Protocol: "tcp", Interval: 30 * time.Millisecond, Timeout: 25 * time.Millisecond, Unhealthy: 1},
	})
	if _, ok := waitFor(3*time.Second, func() bool { return !u.Endpoints()[1].Healthy() }); !ok {
		t.Error("tcp check of a closed port passed")
	}
	time.Sleep(100 * time.Millisecond)
	h := u.Health()
	if !h[0].Healthy || !h[0].Checked {
		t.Errorf("tcp check of a live endpoint: %+v", h[0])
	}
	if h[2].Checked {
		t.Error("a weight-0 endpoint was checked")
	}

	// A port override checks another port than the traffic goes to.
	_, port, _ := net.SplitHostPort(deadAddr)
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	u = checks(HealthCheck{Path: "/healthz", Port: p, Unhealthy: 1})
	if _, ok := waitFor(3*time.Second, func() bool { return !u.Endpoints()[0].Healthy() }); !ok {
		t.Error("check on the overridden (closed) port passed")
	}
	if bad := (HealthCheck{Interval: time.Second, Timeout: 2 * time.Second}); true {
		if _, err := New(Config{Endpoints: addrs(b), HealthCheck: &bad}); err == nil {
			t.Error("New accepted a health check timeout above its interval")
		}
	}
}

// Passive outlier detection: consecutive 5xx eject for the base time,
// longer on a repeat, and no more than the maximum share is ejected.
func TestOutlierEjection(t *testing.T) {
	good, bad, bad2 := newBackend(t, "good"), newBackend(t, "bad"), newBackend(t, "bad2")
	fail := func(b *backend, w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }
	bad.handle, bad2.handle = fail, fail
	base := 150 * time.Millisecond
	u := newUpstream(t, Config{
		Endpoints: addrs(good, bad, bad2),
		Outlier:   &Outlier{Consecutive5xx: 3, BaseEjectionTime: base, MaxEjectionPercent: 34},
	})
	for range 30 {
		do(u, nil, nil)
	}
	h := u.Health()
	ejected := 0
	for _, e := range h[1:] {
		if e.Ejected {
			ejected++
		}
	}
	if ejected != 1 || h[0].Ejected {
		t.Fatalf("ejected %d of the failing endpoints (good ejected: %v), want 1: max_ejection_percent 34 of 3", ejected, h[0].Ejected)
	}
	var which int
	if h[1].Ejected {
		which = 1
	} else {
		which = 2
	}
	first := h[which].EjectedUntil.Sub(time.Now())
	ep := u.Endpoints()[which]
	if took, ok := waitFor(3*time.Second, ep.Healthy); !ok || took < base/2 {
		t.Fatalf("ejection ended after %v (ok %v), want about %v", took, ok, base)
	}
	// The other failing endpoint may be ejected now; send traffic until
	// this one is ejected again.
	waitFor(3*time.Second, func() bool {
		do(u, nil, nil)
		return !ep.Healthy()
	})
	h = u.Health()
	if !h[which].Ejected || h[which].Ejections != 2 {
		t.Fatalf("second ejection: %+v", h[which])
	}
	if second := h[which].EjectedUntil.Sub(time.Now()); second <= first {
		t.Errorf("second ejection lasts %v, not longer than the first (%v)", second, first)
	}
}

// Each affinity type sticks, and moves when its endpoint goes away.
func TestAffinity(t *testing.T) {
	newThree := func(t *testing.T, a Affinity) (*Upstream, []*backend) {
		bs := []*backend{newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")}
		for _, b := range bs {
			b.handle = func(b *backend, w http.ResponseWriter, r *http.Request) {
				if _, err := r.Cookie("sid"); err != nil {
					http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s-" + b.name + "-" + r.URL.Query().Get("u"), Path: "/"})
				}
				w.Write([]byte("ok"))
			}
		}
		return newUpstream(t, Config{Endpoints: addrs(bs...), Affinity: &a, RetryOn: RetryConnectFailure, RetryAttempts: 2}), bs
	}
	// sticky sends n requests built by prep and returns the single backend
	// that answered them, failing if there were several.
	sticky := func(t *testing.T, u *Upstream, n int, call func() *Call, prep func(*fasthttp.Request)) string {
		t.Helper()
		seen := ""
		for range n {
			r := do(u, call(), prep)
			if r.err != nil || r.status != 200 {
				t.Fatalf("request failed: %v %d", r.err, r.status)
			}
			if seen != "" && r.backend != seen {
				t.Fatalf("affinity broken: %s then %s", seen, r.backend)
			}
			seen = r.backend
		}
		return seen
	}
	byName := func(bs []*backend, name string) int {
		for i, b := range bs {
			if b.name == name {
				return i
			}
		}
		t.Fatalf("no backend %q", name)
		return 0
	}

	t.Run("source_ip", func(t *testing.T) {
		u, bs := newThree(t, Affinity{Type: AffinitySourceIP})
		clients := map[string]int{}
		for c := range 12 {
			key := uint64(c*7919 + 1)
			call := func() *Call { return &Call{Hint: balancer.Hint{Key: key}} }
			clients[sticky(t, u, 5, call, nil)]++
			if c == 0 {
				name := sticky(t, u, 1, call, nil)
				i := byName(bs, name)
				u.Endpoints()[i].SetHealthy(false)
				if moved := sticky(t, u, 5, call, nil); moved == name {
					t.Errorf("client stayed on unhealthy %s", name)
				}
				u.Endpoints()[i].SetHealthy(true)
				if back := sticky(t, u, 1, call, nil); back != name {
					t.Errorf("client did not return to %s once healthy: %s", name, back)
				}
			}
		}
		if len(clients) < 2 {
			t.Errorf("12 clients all on one endpoint: %v", clients)
		}
	})

	t.Run("header", func(t *testing.T) {
		u, bs := newThree(t, Affinity{Type: AffinityHeader, Header: "X-User"})
		call := func() *Call { return &Call{} }
		prep := func(req *fasthttp.Request) { req.Header.Set("X-User", "alice") }
		name := sticky(t, u, 10, call, prep)
		bs[byName(bs, name)].kill()
		if moved := sticky(t, u, 5, call, prep); moved == name {
			t.Errorf("stayed on dead %s", name)
		}
	})

	for _, key := range []string{"", "0123456789abcdef-secret"} {
		name := "cookie/opaque"
		if key != "" {
			name = "cookie/signed"
		}
		t.Run(name, func(t *testing.T) {
			u, bs := newThree(t, Affinity{Type: AffinityCookie, Key: []byte(key), HTTPOnly: true, SameSite: "Lax", TTL: time.Hour})
			r := do(u, nil, nil)
			if !strings.HasPrefix(r.setCookie, "wg_affinity=") || !strings.Contains(r.setCookie, "Max-Age=3600") ||
				!strings.Contains(r.setCookie, "HttpOnly") || !strings.Contains(r.setCookie, "SameSite=Lax") || !strings.Contains(r.setCookie, "Path=/") {
				t.Fatalf("Set-Cookie = %q", r.setCookie)
			}
			cookie := strings.SplitN(r.setCookie, ";", 2)[0]
			withCookie := func(req *fasthttp.Request) { req.Header.Set("Cookie", "other=1; "+cookie+"; x=y") }
			first := r.backend
			for range 10 {
				r := do(u, nil, withCookie)
				if r.backend != first {
					t.Fatalf("cookie for %s went to %s", first, r.backend)
				}
				if r.setCookie != "" {
					t.Fatalf("fresh cookie set again: %q", r.setCookie)
				}
			}
			if key != "" {
				// A forged id (another endpoint's) with the old MAC fails
				// verification: balanced as if absent, and a new cookie.
				forged := "wg_affinity=" + strings.Repeat("0", 16) + cookie[len("wg_affinity=")+16:]
				if r := do(u, nil, func(req *fasthttp.Request) { req.Header.Set("Cookie", forged) }); r.setCookie == "" {
					t.Error("forged cookie accepted without a new one")
				}
			}
			bs[byName(bs, first)].kill()
			r = do(u, nil, withCookie)
			if r.err != nil || r.backend == first || !strings.HasPrefix(r.setCookie, "wg_affinity=") {
				t.Fatalf("dead endpoint's cookie: %+v", r)
			}
			moved := strings.SplitN(r.setCookie, ";", 2)[0]
			for range 5 {
				if r2 := do(u, nil, func(req *fasthttp.Request) { req.Header.Set("Cookie", moved) }); r2.backend != r.backend {
					t.Fatalf("moved cookie for %s went to %s", r.backend, r2.backend)
				}
			}
			// An expired cookie binds nothing.
			expired := []byte(cookie)
			if key == "" {
				exp := appendHex([]byte(cookie[:len("wg_affinity=")+17]), uint64(time.Now().Add(-time.Minute).Unix()), 0)
				if r := do(u, nil, func(req *fasthttp.Request) { req.Header.SetBytesV("Cookie", exp) }); r.setCookie == "" {
					t.Errorf("expired cookie %q kept", expired)
				}
			}
		})
	}

	t.Run("app_cookie", func(t *testing.T) {
		u, bs := newThree(t, Affinity{Type: AffinityAppCookie, Cookie: "sid"})
		r := do(u, nil, func(req *fasthttp.Request) { req.SetRequestURI("/?u=1") })
		if !strings.HasPrefix(r.cookies["sid"], "sid=s-"+r.backend) {
			t.Fatalf("app cookie %q from %s", r.cookies["sid"], r.backend)
		}
		sid := strings.SplitN(r.cookies["sid"], ";", 2)[0]
		prep := func(req *fasthttp.Request) { req.Header.Set("Cookie", sid) }
		first := sticky(t, u, 10, func() *Call { return &Call{} }, prep)
		if first != r.backend {
			t.Fatalf("session set by %s went to %s", r.backend, first)
		}
		bs[byName(bs, first)].kill()
		moved := sticky(t, u, 5, func() *Call { return &Call{} }, prep)
		if moved == first {
			t.Fatalf("session stayed on dead %s", first)
		}
	})
}

// Retries: a POST that reached an endpoint is not sent again unless
// allowed; a body is not resent unless allowed; per-try timeouts move on.
func TestRetryPolicy(t *testing.T) {
	resetter := newRawServer(t, resetHandler)
	ok := newBackend(t, "ok")
	both := []EndpointConfig{{Address: resetter.addr(), Weight: 1}, {Address: ok.addr, Weight: 1}}
	send := func(u *Upstream, method, body string) (fails int) {
		for range 6 {
			r := do(u, nil, func(req *fasthttp.Request) {
				req.Header.SetMethod(method)
				if body != "" {
					req.SetBodyString(body)
				}
			})
			if r.err != nil || r.status != 200 {
				fails++
			}
		}
		return fails
	}
	base := Config{Endpoints: both, RetryAttempts: 1, RetryOn: RetryReset | RetryConnectFailure}
	u := newUpstream(t, base)
	if f := send(u, "GET", ""); f != 0 {
		t.Errorf("GET: %d of 6 failed with a reset retried", f)
	}
	if f := send(u, "POST", ""); f != 3 {
		t.Errorf("POST without allow_post: %d of 6 failed, want the 3 that met the reset", f)
	}
	cfg := base
	cfg.RetryAllowPost = true
	u = newUpstream(t, cfg)
	if f := send(u, "POST", ""); f != 0 {
		t.Errorf("POST with allow_post: %d of 6 failed", f)
	}
	if f := send(u, "POST", "payload"); f != 3 {
		t.Errorf("POST with a body, allow_post only: %d of 6 failed, want 3", f)
	}
	cfg.RetryAllowBody = true
	u = newUpstream(t, cfg)
	if f := send(u, "POST", "payload"); f != 0 {
		t.Errorf("POST with a body, allow_post and allow_body: %d of 6 failed", f)
	}

	// Per-try timeout: the slow endpoint's try ends, the next goes on.
	slow := newBackend(t, "slow")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow.handle = func(b *backend, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	u = newUpstream(t, Config{
		Endpoints:     []EndpointConfig{{Address: slow.addr, Weight: 1}, {Address: ok.addr, Weight: 1}},
		RetryAttempts: 1, RetryOn: RetryGatewayError, RetryPerTryTimeout: 100 * time.Millisecond,
		Timeout: 5 * time.Second,
	})
	for range 4 {
		start := time.Now()
		r := do(u, nil, nil)
		if r.err != nil || r.backend != "ok" {
			t.Fatalf("per-try timeout: %+v", r)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v: the per-try timeout did not cut the slow try", d)
		}
	}
	// Retry codes.
	teapot := newBackend(t, "teapot")
	teapot.handle = func(b *backend, w http.ResponseWriter, r *http.Request) { w.WriteHeader(429) }
	u = newUpstream(t, Config{
		Endpoints:     []EndpointConfig{{Address: teapot.addr, Weight: 1}, {Address: ok.addr, Weight: 1}},
		RetryAttempts: 1, RetryCodes: []int{429},
	})
	for range 4 {
		if r := do(u, nil, nil); r.status != 200 {
			t.Errorf("429 listed in retry codes not retried: %+v", r)
		}
	}
}

// The retry budget: with every endpoint failing, retries in progress stay
// within the budget instead of multiplying the load by the attempts.
func TestRetryBudget(t *testing.T) {
	var bs []*backend
	for _, n := range []string{"a", "b", "c"} {
		b := newBackend(t, n)
		b.handle = func(b *backend, w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Millisecond)
			w.WriteHeader(503)
		}
		bs = append(bs, b)
	}
	run := func(pct int) float64 {
		for _, b := range bs {
			b.hits.Store(0)
		}
		u := newUpstream(t, Config{
			Endpoints: addrs(bs...), RetryAttempts: 3, RetryOn: RetryGatewayError,
			RetryBudgetPercent: pct, RetryMinConcurrency: 1,
		})
		tot, _, _ := load(u, 10, 3*time.Second, 10)
		var tries int64
		for _, b := range bs {
			tries += b.hits.Load()
		}
		return float64(tries) / float64(tot)
	}
	unbudgeted := run(100)
	budgeted := run(20)
	t.Logf("tries per request: %.2f without a budget, %.2f with 20%% (min 1)", unbudgeted, budgeted)
	if unbudgeted < 3.9 {
		t.Errorf("without a budget every request should try 4 times: %.2f", unbudgeted)
	}
	if budgeted > 2.5 {
		t.Errorf("with a 20%% budget: %.2f tries per request", budgeted)
	}

	// The rule itself, deterministically.
	u := newUpstream(t, Config{Endpoints: addrs(bs[0]), RetryAttempts: 5, RetryBudgetPercent: 20, RetryMinConcurrency: 2})
	a := attempt{deadline: time.Now().Add(time.Minute)}
	u.active.Store(20)
	u.retrying.Store(3)
	var retried bool
	call := &Call{Tries: 1}
	if !u.mayRetry(call, &a, &retried) || !retried || u.retrying.Load() != 4 {
		t.Error("20% of 20 active allows a fourth retry")
	}
	retried = false
	if u.mayRetry(call, &a, &retried) || retried {
		t.Error("a fifth retry of 20 active exceeds 20%")
	}
	u.active.Store(0)
	u.retrying.Store(0)
}

// Circuit breakers trip with 503 and a reason, and recover.
func TestCircuitBreaker(t *testing.T) {
	hold := make(chan struct{})
	b := newBackend(t, "a")
	entered := make(chan struct{}, 8)
	b.handle = func(b *backend, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			entered <- struct{}{}
			<-hold
		}
		w.Write([]byte("ok"))
	}
	check := func(t *testing.T, u *Upstream, holders int, reason string) {
		var wg sync.WaitGroup
		for range holders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				do(u, nil, func(req *fasthttp.Request) { req.SetRequestURI("/hold") })
			}()
			wait(t, entered, "a held request")
		}
		r := do(u, nil, nil)
		var ue *Error
		if !errors.As(r.err, &ue) || ue.Code != 503 || ue.Reason != reason {
			t.Errorf("past the limit: %+v, want 503 %q", r, reason)
		}
		for range holders {
			hold <- struct{}{}
		}
		wg.Wait()
		if r := do(u, nil, nil); r.err != nil || r.status != 200 {
			t.Errorf("after the load went: %+v", r)
		}
	}
	t.Run("max_requests", func(t *testing.T) {
		check(t, newUpstream(t, Config{Endpoints: addrs(b), Breaker: Breaker{MaxRequests: 2}}), 2, "circuit breaker: max_requests")
	})
	t.Run("max_connections", func(t *testing.T) {
		check(t, newUpstream(t, Config{Endpoints: addrs(b), Breaker: Breaker{MaxConnections: 1}}), 1, "circuit breaker: max_connections")
	})
	t.Run("max_pending_requests", func(t *testing.T) {
		u := newUpstream(t, Config{Endpoints: addrs(b), Breaker: Breaker{MaxPendingRequests: 1}})
		u.lim.pending.Store(1) // one request is connecting
		r := do(u, nil, nil)
		var ue *Error
		if !errors.As(r.err, &ue) || ue.Code != 503 || ue.Reason != "circuit breaker: max_pending_requests" {
			t.Errorf("with one pending: %+v", r)
		}
		u.lim.pending.Store(0)
		if r := do(u, nil, nil); r.status != 200 {
			t.Errorf("after: %+v", r)
		}
	})
}

// With health checks and outlier detection on, round robin still splits
// evenly; slow start gives a recovered endpoint less at first.
func TestDistributionAndSlowStart(t *testing.T) {
	bs := []*backend{newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")}
	u := newUpstream(t, Config{
		Endpoints:   addrs(bs...),
		HealthCheck: &HealthCheck{Path: "/healthz", Interval: 50 * time.Millisecond, Timeout: 40 * time.Millisecond, Healthy: 1, Unhealthy: 1},
		Outlier:     &Outlier{},
		SlowStart:   2 * time.Second,
	})
	const n = 3000
	for range n {
		do(u, nil, nil)
	}
	for _, b := range bs {
		if h := b.hits.Load(); h < n/3*95/100 || h > n/3*105/100 {
			t.Errorf("%s got %d of %d", b.name, h, n)
		}
		b.hits.Store(0)
	}
	bs[0].health.Store(500)
	waitFor(3*time.Second, func() bool { return !u.Endpoints()[0].Healthy() })
	bs[0].health.Store(200)
	if _, ok := waitFor(3*time.Second, u.Endpoints()[0].Healthy); !ok {
		t.Fatal("endpoint did not recover")
	}
	if w := u.Endpoints()[0].Warmth(); w >= 0.5 {
		t.Errorf("recovered endpoint starts at warmth %v", w)
	}
	for range 600 {
		do(u, nil, nil)
	}
	share := float64(bs[0].hits.Load()) / 600
	t.Logf("warming endpoint's share right after recovery: %.3f (1/3 when warm)", share)
	if share > 0.25 {
		t.Errorf("warming endpoint took %.2f of the traffic", share)
	}
	if _, ok := waitFor(5*time.Second, func() bool { return u.Endpoints()[0].Warmth() == 1 }); !ok {
		t.Error("slow start never finished")
	}
}

// An upstream whose keep-alive is shorter than ours: an idle connection it
// closed is noticed before use, so a request with a body does not fail, and
// a Keep-Alive: timeout=N header retires connections in time.
func TestStaleKeepAliveProbe(t *testing.T) {
	var closeIdle atomic.Bool
	s := newRawServer(t, func(s *rawServer, nc net.Conn, w *bufio.Writer, req *http.Request, body []byte, n, i int) bool {
		w.WriteString(okResponse(200, "ok"))
		if closeIdle.Load() {
			// Close after the response is out, like an idle timeout.
			go func() { time.Sleep(50 * time.Millisecond); nc.Close() }()
		}
		return true
	})
	u := newUpstream(t, Config{Endpoints: endpoints(s.addr()), RetryOn: 0})
	closeIdle.Store(true)
	if r := do(u, nil, nil); r.status != 200 {
		t.Fatalf("first: %+v", r)
	}
	time.Sleep(probeAfter + 200*time.Millisecond)
	r := do(u, nil, func(req *fasthttp.Request) { req.Header.SetMethod("POST"); req.SetBodyString("data") })
	if r.err != nil || r.status != 200 {
		t.Fatalf("POST with a body on a connection the endpoint closed while idle: %+v %v", r, r.err)
	}
	if got := s.accepted.Load(); got != 2 {
		t.Errorf("accepted %d connections, want 2", got)
	}

	ka := newRawServer(t, reply(okResponse(200, "ok", "Keep-Alive: timeout=1")))
	u = newUpstream(t, Config{Endpoints: endpoints(ka.addr())})
	do(u, nil, nil)
	do(u, nil, nil)
	if got := ka.accepted.Load(); got != 1 {
		t.Fatalf("back-to-back requests used %d connections", got)
	}
	time.Sleep(600 * time.Millisecond) // past timeout=1 less the margin
	do(u, nil, nil)
	if got := ka.accepted.Load(); got != 2 {
		t.Errorf("a connection idle past the endpoint's Keep-Alive timeout was reused (%d accepted)", got)
	}
}

func TestKeepAliveTimeoutParse(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"timeout=5, max=100": 4 * time.Second,
		"max=10,timeout=30":  29 * time.Second,
		"Timeout=1":          500 * time.Millisecond,
		"timeout=0":          1,
		"max=5":              0,
		"timeout=":           0,
	} {
		if got := KeepAliveTimeout([]byte(in)); got != want {
			t.Errorf("KeepAliveTimeout(%q) = %v, want %v", in, got, want)
		}
	}
}

// Affinity, outlier detection and health checks keep Forward
// allocation-free.
func TestForwardAllocsWithTraffic(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	response := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=600\r\n\r\nok")
	addr := benchServer(t, response)
	addr2 := benchServer(t, response)
	for _, aff := range []*Affinity{
		nil,
		{Type: AffinitySourceIP},
		{Type: AffinityHeader, Header: "X-User"},
		{Type: AffinityCookie, Key: []byte("0123456789abcdef")},
		{Type: AffinityAppCookie, Cookie: "sid"},
	} {
		name := "none"
		if aff != nil {
			name = aff.Type
		}
		t.Run(name, func(t *testing.T) {
			u := newUpstream(t, Config{
				Endpoints:   endpoints(addr, addr2),
				Affinity:    aff,
				Outlier:     &Outlier{},
				HealthCheck: &HealthCheck{Protocol: "tcp", Interval: time.Hour},
				Breaker:     Breaker{MaxRequests: 1000, MaxConnections: 1000, MaxPendingRequests: 100},
			})
			req := new(fasthttp.Request)
			req.Header.SetMethod("GET")
			req.SetRequestURI("/")
			req.Header.SetHost("app.test")
			req.Header.Set("X-User", "alice")
			req.Header.Set("Cookie", "sid=abc; wg_affinity=junk")
			resp := new(fasthttp.Response)
			call := Call{Hint: balancer.Hint{Key: 42}}
			once := func() {
				resp.Header.DelAllCookies()
				if err := u.Forward(context.Background(), req, resp, &call); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(resp.Body(), []byte("ok")) {
					t.Fatalf("body %q", resp.Body())
				}
			}
			for range 10 {
				once()
			}
			if a := testing.AllocsPerRun(200, once); a != 0 {
				t.Errorf("%v allocs per Forward", a)
			}
		})
	}
}

// BenchmarkAliveProbe is the cost of the liveness check acquire makes on a
// connection idle for more than probeAfter.
func BenchmarkAliveProbe(b *testing.B) {
	addr := benchServer(b, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c := &conn{nc: nc, br: bufio.NewReader(nc)}
	b.ReportAllocs()
	for b.Loop() {
		if !c.alive() {
			b.Fatal("open connection reported dead")
		}
	}
}

// BenchmarkForwardWithTraffic is BenchmarkForwardBuffered1KiB's round trip
// with signed cookie affinity, outlier detection, health checks and
// breakers configured.
func BenchmarkForwardWithTraffic(b *testing.B) {
	response := []byte("HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024))
	addr := benchServer(b, response)
	u, err := New(Config{
		Name:        "bench",
		Endpoints:   endpoints(addr),
		Affinity:    &Affinity{Type: AffinityCookie, Key: []byte("0123456789abcdef")},
		Outlier:     &Outlier{},
		HealthCheck: &HealthCheck{Protocol: "tcp", Interval: time.Hour},
		Breaker:     Breaker{MaxRequests: 1000, MaxConnections: 1000},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(u.Close)
	req := new(fasthttp.Request)
	req.Header.SetMethod("GET")
	req.SetRequestURI("/bench")
	req.Header.SetHost("backend.test")
	resp := new(fasthttp.Response)
	var call Call
	if err := u.Forward(context.Background(), req, resp, &call); err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Cookie", strings.SplitN(string(resp.Header.PeekCookie("wg_affinity")), ";", 2)[0])
	b.ReportAllocs()
	for b.Loop() {
		if err := u.Forward(context.Background(), req, resp, &call); err != nil {
			b.Fatal(err)
		}
	}
}
