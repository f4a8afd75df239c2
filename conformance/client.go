package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/wasmgate/wasmgate/gateway/echo"
)

// requestTimeout bounds one request of a step.
const requestTimeout = 60 * time.Second

// keepBody is how much of a response body is kept for body_contains and
// upstream_request checks; the rest is only counted.
const keepBody = 1 << 20

// client sends a cell's requests over one protocol.
type client struct {
	proto string          // h1, h2 or h3
	certs certFiles       // the trusted CA and the client certificates
	tls   map[string]bool // listener addresses that speak TLS
	// sets holds one set of transports per client certificate choice
	// ("", "trusted", "untrusted").
	sets map[string]*transports
}

// transports are the HTTP clients of one client certificate choice.
type transports struct {
	tr *http.Transport  // h1 and h2
	h3 *http3.Transport // h3, over TLS only
	hc *http.Client     // uses tr or h3
}

func newClient(p string, certs certFiles, tlsAddrs map[string]bool) *client {
	return &client{proto: p, certs: certs, tls: tlsAddrs, sets: map[string]*transports{}}
}

func (c *client) transports(cert string) *transports {
	if t, ok := c.sets[cert]; ok {
		return t
	}
	tlsConf := c.certs.clientTLS()
	switch cert {
	case "trusted":
		tlsConf.Certificates = []tls.Certificate{c.certs.client}
	case "untrusted":
		tlsConf.Certificates = []tls.Certificate{c.certs.untrusted}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		Proxy:               nil,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 8,
		TLSClientConfig:     tlsConf,
		// Every name resolves to loopback (like curl --resolve), so that
		// a TLS client can send the request's authority as SNI.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}
	protos := new(http.Protocols)
	if c.proto == H2 {
		protos.SetHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	tr.Protocols = protos
	t := &transports{tr: tr}
	var rt http.RoundTripper = tr
	if c.proto == H3 {
		t.h3 = &http3.Transport{
			TLSClientConfig:    tlsConf,
			DisableCompression: true,
			QUICConfig:         &quic.Config{HandshakeIdleTimeout: 5 * time.Second, MaxIdleTimeout: 30 * time.Second},
			// Every name resolves to loopback here too; the TLS config
			// carries the URL's host as ServerName.
			Dial: func(ctx context.Context, addr string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return quic.DialAddrEarly(ctx, net.JoinHostPort("127.0.0.1", port), tc, qc)
			},
		}
		rt = t.h3
	}
	t.hc = &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.sets[cert] = t
	return t
}

func (c *client) close() {
	for _, t := range c.sets {
		t.tr.CloseIdleConnections()
		if t.h3 != nil {
			_ = t.h3.Close()
		}
	}
}

// response is what a step observed for one request.
type response struct {
	status  int
	proto   int // HTTP major version
	header  http.Header
	body    []byte // the first keepBody bytes
	size    int64  // the whole body's length
	elapsed time.Duration
	closed  *bool  // raw requests: whether the gateway closed the connection after the response
	after   []byte // raw requests: bytes the gateway sent after the response
	cert    string // TLS: the common name of the server's certificate
}

// stepEnv is what the steps of one cell share.
type stepEnv struct {
	listeners map[string]string    // listener name → address
	recorders map[string]*recorder // recorded backends by name
	c         *Case
}

// runStep sends a step's request (repeat times) and checks every response.
func runStep(ctx context.Context, cl *client, st *stepBodyHCL, env *stepEnv) error {
	rq, ex := &st.Request, &st.Expect
	lname := env.c.Listeners[0]
	if rq.Listener != nil {
		lname = *rq.Listener
	}
	target := env.listeners[lname]
	n := 1
	if rq.Repeat != nil {
		n = *rq.Repeat
	}
	marks := map[string]int{}
	for name, rec := range env.recorders {
		marks[name] = rec.count()
	}
	counts := map[string]int{}
	for i := range n {
		var resp *response
		var err error
		switch {
		case rq.Raw != nil:
			resp, err = sendRaw(ctx, target, *rq.Raw, ex.ConnectionClosed != nil || ex.NothingAfter != nil)
		case rq.WebSocket != nil:
			resp, err = cl.webSocket(ctx, target, rq)
		default:
			resp, err = cl.send(ctx, target, rq)
		}
		var ce caseError
		if ex.NoResponse != nil && *ex.NoResponse && !errors.As(err, &ce) {
			if err == nil {
				err = fmt.Errorf("got a response (status %d), want none (the connection refused)", resp.status)
			} else {
				err = nil
			}
		} else if err == nil {
			err = check(ex, resp)
		}
		if err != nil {
			if n > 1 {
				return fmt.Errorf("request %d of %d: %w", i+1, n, err)
			}
			return err
		}
		if resp != nil {
			counts[resp.header.Get("X-Backend")]++
		}
	}
	if ex.Distribution != nil {
		if err := checkDistribution(ex, counts, n); err != nil {
			return err
		}
	}
	for i := range ex.Saw {
		if err := checkSaw(ctx, &ex.Saw[i], env.recorders[ex.Saw[i].Backend], marks[ex.Saw[i].Backend]); err != nil {
			return err
		}
	}
	return nil
}

// caseError is a request the case cannot send as written; it fails the
// step even when the step expects no response.
type caseError struct{ error }

func (e caseError) Unwrap() error { return e.error }

// isTLS reports whether the listener at target speaks TLS.
func (c *client) isTLS(target string) bool { return c.tls[target] }

func (c *client) send(ctx context.Context, target string, rq *requestHCL) (*response, error) {
	method, p := http.MethodGet, "/"
	if rq.Method != nil {
		method = *rq.Method
	}
	if rq.Path != nil {
		p = *rq.Path
	}
	var body io.Reader
	var length int64
	switch {
	case rq.Body != nil:
		body, length = strings.NewReader(*rq.Body), int64(len(*rq.Body))
	case rq.BodySize != nil:
		body, length = &patternReader{left: *rq.BodySize}, *rq.BodySize
	}
	chunked := rq.Chunked != nil && *rq.Chunked
	if chunked && body == nil {
		body = strings.NewReader("")
	}
	secure := c.isTLS(target)
	if !secure && (rq.SNI != nil || rq.ClientCert != nil) {
		return nil, caseError{errors.New("sni and client_cert need a TLS listener (protocol = \"https\")")}
	}
	if !secure && c.proto == H3 {
		return nil, caseError{errors.New("HTTP/3 needs a TLS listener")}
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	scheme, urlHost := "http", target
	if secure {
		// Over TLS the URL carries the SNI name (sni, else the
		// authority's host); the dialer still connects to the listener.
		scheme = "https"
		name := ""
		if rq.Authority != nil {
			name = hostOnly(*rq.Authority)
		}
		if rq.SNI != nil {
			name = *rq.SNI
		}
		if name != "" {
			_, port, _ := net.SplitHostPort(target)
			urlHost = net.JoinHostPort(name, port)
		}
	}
	req, err := http.NewRequestWithContext(rctx, method, scheme+"://"+urlHost+p, body)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if body != nil {
		if chunked {
			req.ContentLength = -1
			req.Body = io.NopCloser(io.MultiReader(body)) // hides the length
		} else {
			req.ContentLength = length
		}
	}
	if rq.Authority != nil {
		req.Host = *rq.Authority
	}
	for k, vs := range rq.Headers {
		if strings.EqualFold(k, "host") && len(vs) > 0 {
			req.Host = vs[0]
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	cert := ""
	if rq.ClientCert != nil && *rq.ClientCert != "none" {
		cert = *rq.ClientCert
	}
	start := time.Now()
	resp, err := c.transports(cert).hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no response: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	out := &response{status: resp.StatusCode, proto: resp.ProtoMajor, header: resp.Header}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		out.cert = resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if err := out.readBody(resp.Body); err != nil {
		return nil, err
	}
	out.elapsed = time.Since(start)
	return out, nil
}

func (r *response) readBody(b io.Reader) error {
	var kept strings.Builder
	n, err := io.Copy(&limitedKeep{w: &kept, left: keepBody}, b)
	r.size, r.body = n, []byte(kept.String())
	if err != nil {
		return fmt.Errorf("reading the response body after %d bytes: %w", n, err)
	}
	return nil
}

// sendRaw writes raw bytes on a new connection and reads one HTTP/1.1
// response; with watch, it then watches the connection for a second:
// whether it closes and what else arrives.
func sendRaw(ctx context.Context, target, raw string, watch bool) (*response, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(requestTimeout))
	start := time.Now()
	if _, err := io.WriteString(conn, raw); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("the gateway closed the connection without a response")
		}
		return nil, fmt.Errorf("no response: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	out := &response{status: resp.StatusCode, header: resp.Header}
	if err := out.readBody(resp.Body); err != nil {
		return nil, err
	}
	out.elapsed = time.Since(start)
	if watch {
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		var after bytes.Buffer
		_, err := io.Copy(&limitedKeep{w: &after, left: 512}, br)
		closed := !errors.Is(err, os.ErrDeadlineExceeded)
		out.closed, out.after = &closed, after.Bytes()
	}
	return out, nil
}

// check compares one response with the expectations, reporting every
// mismatch.
func check(ex *expectHCL, r *response) error {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	want := ex.Status
	if want == nil {
		want = []int{200}
	}
	if !slices.Contains(want, r.status) {
		reason := r.header.Get("X-Wasmgate-Reason")
		if reason != "" {
			reason = " (x-wasmgate-reason: " + reason + ")"
		}
		fail("status %d%s, want %s", r.status, reason, statusList(want))
	}
	for _, k := range sortedKeys(ex.Headers) {
		if got, ok := headerValue(r.header, k); !ok {
			fail("response header %s absent, want %q", k, ex.Headers[k])
		} else if got != ex.Headers[k] {
			fail("response header %s = %q, want %q", k, got, ex.Headers[k])
		}
	}
	for _, k := range ex.HeadersPresent {
		if _, ok := headerValue(r.header, k); !ok {
			fail("response header %s absent, want present", k)
		}
	}
	for _, k := range ex.HeadersAbsent {
		if got, ok := headerValue(r.header, k); ok {
			fail("response header %s = %q, want absent", k, got)
		}
	}
	if ex.BodyContains != nil && !strings.Contains(string(r.body), *ex.BodyContains) {
		fail("body does not contain %q (body starts %q)", *ex.BodyContains, clip(r.body, 120))
	}
	if ex.BodySize != nil && r.size != *ex.BodySize {
		fail("body is %d bytes, want %d", r.size, *ex.BodySize)
	}
	if ex.ServerCert != nil && r.cert != *ex.ServerCert {
		if r.cert == "" {
			fail("no server certificate (not a TLS connection), want %q", *ex.ServerCert)
		} else {
			fail("server certificate %q, want %q", r.cert, *ex.ServerCert)
		}
	}
	if ex.Backend != nil {
		if got := r.header.Get("X-Backend"); got != *ex.Backend {
			fail("answered by backend %q, want %q", got, *ex.Backend)
		}
	}
	if ex.Within != nil {
		d, _ := time.ParseDuration(*ex.Within)
		if r.elapsed > d {
			fail("response took %s, want within %s", r.elapsed.Round(time.Millisecond), d)
		}
	}
	if ex.ConnectionClosed != nil && r.closed != nil && *r.closed != *ex.ConnectionClosed {
		if *ex.ConnectionClosed {
			fail("the connection stayed open after the response, want closed")
		} else {
			fail("the gateway closed the connection after the response, want it kept open")
		}
	}
	if ex.NothingAfter != nil && *ex.NothingAfter && len(r.after) > 0 {
		fail("the gateway sent more after the response: %q", clip(r.after, 160))
	}
	if u := ex.Upstream; u != nil {
		bad = append(bad, checkUpstream(u, r)...)
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// checkUpstream compares what the echo backend reported it received.
func checkUpstream(u *upstreamHCL, r *response) []string {
	var rep echo.Reply
	if err := json.Unmarshal(r.body, &rep); err != nil || rep.Backend == "" {
		return []string{fmt.Sprintf("the response is not an echo reply (body starts %q)", clip(r.body, 120))}
	}
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if u.Method != nil && rep.Method != *u.Method {
		fail("upstream method %q, want %q", rep.Method, *u.Method)
	}
	if u.Path != nil && rep.Path != *u.Path {
		fail("upstream path %q, want %q", rep.Path, *u.Path)
	}
	if u.Host != nil && rep.Host != *u.Host {
		fail("upstream host %q, want %q", rep.Host, *u.Host)
	}
	for _, k := range sortedKeys(u.Headers) {
		vals, ok := rep.Headers[strings.ToLower(k)]
		if got := strings.Join(vals, ", "); !ok {
			fail("upstream header %s absent, want %q", k, u.Headers[k])
		} else if got != u.Headers[k] {
			fail("upstream header %s = %q, want %q", k, got, u.Headers[k])
		}
	}
	for _, k := range u.HeadersAbsent {
		if vals, ok := rep.Headers[strings.ToLower(k)]; ok {
			fail("upstream header %s = %q, want absent", k, strings.Join(vals, ", "))
		}
	}
	if u.BodyBytes != nil && rep.BodyBytes != *u.BodyBytes {
		fail("upstream received %d body bytes, want %d", rep.BodyBytes, *u.BodyBytes)
	}
	return bad
}

// checkDistribution compares which backends answered n requests with the
// expected weights, within the tolerance (a fraction of n, default 0.05).
func checkDistribution(ex *expectHCL, counts map[string]int, n int) error {
	tol := 0.05
	if ex.Tolerance != nil {
		tol = *ex.Tolerance
	}
	var total float64
	for _, w := range ex.Distribution {
		total += w
	}
	var bad []string
	for _, name := range sortedKeys(ex.Distribution) {
		want := 0.0
		if total > 0 {
			want = ex.Distribution[name] / total
		}
		got := float64(counts[name]) / float64(n)
		if math.Abs(got-want) > tol+1e-9 {
			bad = append(bad, fmt.Sprintf("backend %s answered %.3f of requests, want %.3f±%.3f", name, got, want, tol))
		}
	}
	for _, name := range sortedKeys(counts) {
		if _, ok := ex.Distribution[name]; !ok {
			who := "backend " + name
			if name == "" {
				who = "the gateway itself (no X-Backend)"
			}
			bad = append(bad, fmt.Sprintf("%s answered %d requests, want none", who, counts[name]))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("distribution over %d requests %v: %s", n, counts, strings.Join(bad, "; "))
	}
	return nil
}

// hostOnly strips the port from an authority.
func hostOnly(authority string) string {
	if h, _, err := net.SplitHostPort(authority); err == nil {
		return h
	}
	return authority
}

func statusList(codes []int) string {
	if len(codes) == 1 {
		return strconv.Itoa(codes[0])
	}
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = strconv.Itoa(c)
	}
	return "one of " + strings.Join(parts, ", ")
}

// headerValue returns a response header's values joined with ", ".
func headerValue(h http.Header, name string) (string, bool) {
	vals := h.Values(name)
	if len(vals) == 0 {
		return "", false
	}
	return strings.Join(vals, ", "), true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// patternReader yields left bytes of a repeating alphabet.
type patternReader struct {
	left int64
	off  int
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.left))
	for i := range n {
		b[i] = byte('a' + (p.off+i)%26)
	}
	p.off = (p.off + n) % 26
	p.left -= int64(n)
	return n, nil
}

// limitedKeep keeps the first left bytes written to w and discards the
// rest, reporting every write as complete.
type limitedKeep struct {
	w    io.Writer
	left int
}

func (l *limitedKeep) Write(b []byte) (int, error) {
	if l.left > 0 {
		k := min(len(b), l.left)
		_, _ = l.w.Write(b[:k])
		l.left -= k
	}
	return len(b), nil
}
