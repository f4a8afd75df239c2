package h1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

var (
	testClient = netip.MustParseAddr("192.0.2.1")
	testVia    = "1.1 wasmgate"
)

func (r Result) String() string {
	switch r {
	case Incomplete:
		return "Incomplete"
	case OK:
		return "OK"
	case HandOff:
		return "HandOff"
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}

func (f Framing) String() string {
	switch f {
	case NoBody:
		return "NoBody"
	case Length:
		return "Length"
	case Chunked:
		return "Chunked"
	case UntilClose:
		return "UntilClose"
	}
	return fmt.Sprintf("Framing(%d)", uint8(f))
}

// fieldList returns the parsed header lines of head as name/value pairs.
func fieldList(head []byte, f *fields) [][2]string {
	var out [][2]string
	for i := range f.n {
		l := f.lines[i]
		out = append(out, [2]string{
			string(head[l.nameStart:l.nameEnd]),
			string(head[l.valStart:l.valEnd]),
		})
	}
	return out
}

// lineNames returns the field names of a serialized head, in order, as
// sent (no canonicalisation), so tests can see exactly what was written.
func lineNames(head []byte) []string {
	var names []string
	lines := strings.Split(string(head), "\r\n")
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		name, _, _ := strings.Cut(l, ":")
		names = append(names, name)
	}
	return names
}

// hasField reports whether a serialized head has a field named name
// (case-insensitively).
func hasField(head []byte, name string) bool {
	for _, n := range lineNames(head) {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

const getHead = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\nAccept: */*\r\n\r\n"

// requestOK are heads ParseRequest must accept.
var requestOK = []struct {
	name   string
	in     string
	len    int // 0: len(in)
	head   bool
	close  bool
	fields [][2]string // nil: not checked
}{
	{name: "simple GET", in: getHead, fields: [][2]string{{"Host", "example.com"}, {"User-Agent", "t/1"}, {"Accept", "*/*"}}},
	{name: "minimal", in: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "HEAD", in: "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", head: true},
	{name: "HEADER is not HEAD", in: "HEADER /x HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "Connection close", in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", close: true},
	{name: "Connection keep-alive, Close", in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", close: true},
	{name: "Connection keep-alive", in: "GET / HTTP/1.1\r\nHost: a\r\nconnection: Keep-Alive\r\n\r\n"},
	{name: "Connection empty tokens", in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: , ,close,\r\n\r\n", close: true},
	{name: "Content-Length 0", in: "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		fields: [][2]string{{"Host", "a"}, {"Content-Length", "0"}}},
	{name: "Content-Length 0 with OWS", in: "DELETE /r HTTP/1.1\r\nHost: a\r\ncontent-length: \t0 \r\n\r\n"},
	{name: "OWS trimmed", in: "GET / HTTP/1.1\r\nHost: \t example.com \t\r\nX-A:b\r\nX-B:   \r\nX-C: a  b\t\r\nX-D:\r\n\r\n",
		fields: [][2]string{{"Host", "example.com"}, {"X-A", "b"}, {"X-B", ""}, {"X-C", "a  b"}, {"X-D", ""}}},
	{name: "forwarding fields once", in: "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nVia: 1.0 p\r\nX-Forwarded-Proto: https\r\n\r\n"},
	{name: "hop fields repeated", in: "GET / HTTP/1.1\r\nHost: a\r\nKeep-Alive: 1\r\nKeep-Alive: 2\r\nTE: trailers\r\nTE: x\r\nProxy-Connection: keep-alive\r\n\r\n"},
	{name: "target chars", in: "GET /a/b;p?c=d&e=%20&f=~!$'()*+,=:@[] HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "double slash target", in: "GET //evil.example/x HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "obs-text and tab in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\tau lait\r\n\r\n",
		fields: [][2]string{{"Host", "a"}, {"X-Name", "caf\xc3\xa9\tau lait"}}},
	{name: "tchar names", in: "GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"},
	{name: "empty Host", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n"},
	{name: "host field case", in: "OPTIONS /x HTTP/1.1\r\nhOsT: a\r\n\r\n"},
	{name: "pipelined", in: "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", len: 28},
	{name: "pipelined junk", in: "GET / HTTP/1.1\r\nHost: a\r\n\r\n\x00\x01garbage", len: 27},
	{name: "128 fields", in: "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", maxFields-1) + "\r\n"},
}

func TestParseRequestOK(t *testing.T) {
	var r Request
	for _, tc := range requestOK {
		t.Run(tc.name, func(t *testing.T) {
			// Dirty the reused Request first: nothing may leak.
			ParseRequest([]byte("HEAD / HTTP/1.1\r\nHost: z\r\nConnection: close\r\nX: 1\r\nY: 2\r\n\r\n"), &r)
			b := []byte(tc.in)
			if got := ParseRequest(b, &r); got != OK {
				t.Fatalf("ParseRequest(%q) = %v, want OK", tc.in, got)
			}
			wantLen := tc.len
			if wantLen == 0 {
				wantLen = len(tc.in)
			}
			if r.Len != wantLen {
				t.Errorf("Len = %d, want %d", r.Len, wantLen)
			}
			if r.Head != tc.head {
				t.Errorf("Head = %v, want %v", r.Head, tc.head)
			}
			if r.Close != tc.close {
				t.Errorf("Close = %v, want %v", r.Close, tc.close)
			}
			if tc.fields != nil {
				if got := fieldList(b, &r.fields); !reflect.DeepEqual(got, tc.fields) {
					t.Errorf("fields = %q, want %q", got, tc.fields)
				}
			}
			// The head alone parses the same.
			var r2 Request
			if got := ParseRequest(b[:wantLen], &r2); got != OK || r2.Len != wantLen {
				t.Errorf("head alone: %v Len %d", got, r2.Len)
			}
		})
	}
}

// TestParseRequestPrefixes: every proper prefix of a head is Incomplete.
func TestParseRequestPrefixes(t *testing.T) {
	var r Request
	for _, tc := range requestOK {
		n := tc.len
		if n == 0 {
			n = len(tc.in)
		}
		for i := range n {
			if got := ParseRequest([]byte(tc.in[:i]), &r); got != Incomplete {
				t.Errorf("%s: ParseRequest(%q) = %v, want Incomplete", tc.name, tc.in[:i], got)
			}
		}
	}
}

func TestParseRequestHandOff(t *testing.T) {
	tests := []struct{ name, in string }{
		{"POST with body", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"},
		{"Content-Length 00", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 00\r\n\r\n"},
		{"Content-Length empty", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"},
		{"Content-Length twice", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"},
		{"Content-Length list", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 0\r\n\r\n"},
		{"Transfer-Encoding", "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"Transfer-Encoding empty", "GET / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:\r\n\r\n"},
		{"Expect", "PUT /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n"},
		{"Upgrade", "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n"},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"},
		{"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n"},
		{"HTTP/0.9", "GET /\r\n\r\n"},
		{"absolute-form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"authority-form", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"},
		{"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"empty target", "GET  HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n"},
		{"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"DEL in target", "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"bare LF request line", "GET / HTTP/1.1\nHost: a\n\n"},
		{"bare LF field", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"},
		{"bare LF end", "GET / HTTP/1.1\r\nHost: a\r\n\n"},
		{"CR without LF at end", "GET / HTTP/1.1\r\nHost: a\r\n\rX"},
		{"CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n b\r\n\r\n"},
		{"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n\tb\r\n\r\n"},
		{"leading whitespace first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n"},
		{"missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n"},
		{"no fields", "GET / HTTP/1.1\r\n\r\n"},
		{"two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"},
		{"two Host case", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"},
		{"two XFF", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\n\r\n"},
		{"two Via", "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 a\r\nVia: 1.1 b\r\n\r\n"},
		{"two XFP", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Proto: https\r\n\r\n"},
		{"two Connection", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: close\r\n\r\n"},
		{"Connection foo", "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\n\r\n"},
		{"Connection close, foo", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\n\r\n"},
		{"Connection upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n"},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"},
		{"space before colon other", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n"},
		{"space in name", "GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n"},
		{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"},
		{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nXA\r\n\r\n"},
		{"non-token name", "GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n"},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"},
		{"NUL in Host", "GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n"},
		{"CTL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n"},
		{"ESC in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[31m\r\n\r\n"},
		{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n"},
		{"vertical tab in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\vb\r\n\r\n"},
		{"lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"mixed-case method", "Get / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"method with dash", "M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"leading CRLF", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"TLS handshake", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"129 fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", maxFields) + "\r\n"},
	}
	var r Request
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseRequest([]byte(tc.in), &r); got != HandOff {
				t.Errorf("ParseRequest(%q) = %v, want HandOff", tc.in, got)
			}
		})
	}
}

func TestParseRequestIncomplete(t *testing.T) {
	tests := []string{
		"",
		"G",
		"GET / HTTP/1.1\r\nHost: a\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5",                // not yet ended: may be followed by anything
		"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", 60000), // long but below the limit
	}
	var r Request
	for _, in := range tests {
		if got := ParseRequest([]byte(in), &r); got != Incomplete {
			t.Errorf("ParseRequest(%.60q) = %v, want Incomplete", in, got)
		}
	}
}

// TestParseRequestSizeLimit: a head is at most 0xffff bytes. One that has
// not ended by then can never be plain, wherever it is cut: HandOff, not
// Incomplete (which would ask the caller to read past the limit).
func TestParseRequestSizeLimit(t *testing.T) {
	const start = "GET / HTTP/1.1\r\nHost: a\r\nX: "
	exact := start + strings.Repeat("v", 0xffff-len(start)-4) + "\r\n\r\n"
	var r Request
	if got := ParseRequest([]byte(exact), &r); got != OK || r.Len != 0xffff {
		t.Errorf("head of 0xffff bytes: %v Len %d, want OK", got, r.Len)
	}
	if got := ParseRequest([]byte(exact+"GET / HTTP/1.1\r\n"), &r); got != OK || r.Len != 0xffff {
		t.Errorf("head of 0xffff bytes, more after: %v Len %d, want OK", got, r.Len)
	}
	over := start + strings.Repeat("v", 0xffff-len(start)-3) + "\r\n\r\n"
	for _, in := range []string{
		over,                                   // ends one byte too late
		over[:0xffff],                          // 0xffff bytes, not ended
		start + strings.Repeat("v", 70000),     // value never ends
		"GET /" + strings.Repeat("a", 0x10000), // target never ends
		strings.Repeat("A", 0x10000),           // method never ends
		strings.Repeat("A", 0xfffe) + " ",      // no room for a target
		"GET /" + strings.Repeat("a", 0xffff-len("GET / HTTP")) + " HTTP", // nor for the version
	} {
		if got := ParseRequest([]byte(in), &r); got != HandOff {
			t.Errorf("ParseRequest(%d bytes %.40q...) = %v, want HandOff", len(in), in, got)
		}
	}
}

// checkUpstream checks what AppendUpstream wrote for the request head in
// (parsed into r): net/http reads it as the same request, with the
// forwarding fields set and the hop-by-hop ones gone. It returns the
// parsed request, or nil when net/http refuses the target itself.
func checkUpstream(t testing.TB, in, out []byte, r *Request, client netip.Addr, scheme, via string) *http.Request {
	t.Helper()
	head := in[:r.Len]
	method := string(head[:r.methodEnd])
	target := string(head[r.methodEnd+1 : r.targetEnd])
	host := r.value(head, fieldHost)
	priorXFF := r.value(head, fieldXFF)
	priorVia := r.value(head, fieldVia)

	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(out)))
	if err != nil {
		if _, uerr := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: a\r\n\r\n"))); uerr != nil {
			return nil // net/http rejects the target (say "/%zz"), as it does the input
		}
		t.Fatalf("http.ReadRequest(AppendUpstream(%q)) = %v\noutput %q", head, err, out)
	}
	if req.Method != method || req.RequestURI != target || req.Proto != "HTTP/1.1" {
		t.Errorf("request line %q %q %q, want %q %q HTTP/1.1", req.Method, req.RequestURI, req.Proto, method, target)
	}
	if req.Host != string(host) {
		t.Errorf("Host = %q, want %q", req.Host, host)
	}
	wantXFF := client.String()
	if len(priorXFF) > 0 {
		wantXFF = string(priorXFF) + ", " + wantXFF
	}
	if got := req.Header["X-Forwarded-For"]; len(got) != 1 || got[0] != wantXFF {
		t.Errorf("X-Forwarded-For = %q, want %q", got, wantXFF)
	}
	if got := req.Header["X-Forwarded-Proto"]; len(got) != 1 || got[0] != scheme {
		t.Errorf("X-Forwarded-Proto = %q, want %q", got, scheme)
	}
	wantVia := via
	if len(priorVia) > 0 {
		wantVia = string(priorVia) + ", " + via
	}
	if got := req.Header["Via"]; len(got) != 1 || got[0] != wantVia {
		t.Errorf("Via = %q, want %q", got, wantVia)
	}
	for _, name := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Upgrade", "Transfer-Encoding", "Expect"} {
		if hasField(out, name) {
			t.Errorf("%s forwarded: %q", name, out)
		}
	}
	if req.ContentLength != 0 {
		t.Errorf("ContentLength = %d, want 0", req.ContentLength)
	}
	// Every other field goes on with its value, in order.
	var want, got [][2]string
	for _, f := range fieldList(head, &r.fields) {
		switch Classify([]byte(f[0])) {
		case fieldConnection, fieldHop, fieldKeepAlive, fieldXFF, fieldVia, fieldXFP:
		default:
			want = append(want, f)
		}
	}
	var r2 Request
	start := bytes.Index(out, []byte("\r\n")) + 2
	r2.parseFields(out[start:], start)
	for _, f := range fieldList(out, &r2.fields) {
		switch Classify([]byte(f[0])) {
		case fieldXFF, fieldVia, fieldXFP:
		default:
			got = append(got, f)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields forwarded %q, want %q", got, want)
	}
	return req
}

func TestAppendUpstream(t *testing.T) {
	in := "GET /path/x?y=1&z HTTP/1.1\r\n" +
		"Host: example.com:8080\r\n" +
		"User-Agent: test/1.0\r\n" +
		"X-Forwarded-For: prior\r\n" +
		"Via: prior\r\n" +
		"X-Forwarded-Proto: https\r\n" +
		"Connection: keep-alive\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"TE: trailers\r\n" +
		"Proxy-Authorization: Basic c2VjcmV0\r\n" +
		"Accept: text/html\r\n" +
		"accept: text/plain \r\n" +
		"X-Empty:\r\n" +
		"Cookie: a=b; c=d\r\n" +
		"\r\n"
	var r Request
	if got := ParseRequest([]byte(in), &r); got != OK {
		t.Fatalf("ParseRequest = %v", got)
	}
	prefix := []byte("keep")
	out := AppendUpstream(prefix, []byte(in), &r, testClient, "http", testVia)
	if !bytes.HasPrefix(out, []byte("keepGET /path/x?y=1&z HTTP/1.1\r\n")) {
		t.Fatalf("output %q does not keep dst and the request line", out)
	}
	out = out[len(prefix):]
	req := checkUpstream(t, []byte(in), out, &r, testClient, "http", testVia)
	if req == nil {
		t.Fatal("net/http refused the target")
	}
	for name, want := range map[string][]string{
		"X-Forwarded-For":     {"prior, 192.0.2.1"},
		"X-Forwarded-Proto":   {"http"},
		"Via":                 {"prior, 1.1 wasmgate"},
		"User-Agent":          {"test/1.0"},
		"Accept":              {"text/html", "text/plain"},
		"X-Empty":             {""},
		"Cookie":              {"a=b; c=d"},
		"Connection":          nil,
		"Keep-Alive":          nil,
		"Te":                  nil,
		"Proxy-Authorization": nil,
	} {
		if got := req.Header[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if req.Host != "example.com:8080" || req.Method != "GET" || req.RequestURI != "/path/x?y=1&z" {
		t.Errorf("Host %q Method %q RequestURI %q", req.Host, req.Method, req.RequestURI)
	}
	if len(req.Header) != 7 {
		t.Errorf("fields %v, want 7 of them", req.Header)
	}

	// What the plain path sends must itself be plain, and unchanged by
	// another pass (apart from the forwarding fields growing).
	var r2 Request
	if got := ParseRequest(out, &r2); got != OK || r2.Len != len(out) || r2.Close {
		t.Fatalf("ParseRequest(AppendUpstream output) = %v Len %d/%d Close %v", got, r2.Len, len(out), r2.Close)
	}
}

func TestAppendUpstreamExact(t *testing.T) {
	tests := []struct {
		in     string
		client string
		scheme string
		want   string
	}{
		{
			"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "192.0.2.1", "http",
			"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nVia: 1.1 wasmgate\r\n\r\n",
		},
		{
			"HEAD /h?x HTTP/1.1\r\nhost:  a \r\nconnection: close\r\ncontent-length: 0\r\nx-forwarded-for:\r\nvia:\r\n\r\n", "2001:db8::1", "https",
			"HEAD /h?x HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\nX-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: https\r\nVia: 1.1 wasmgate\r\n\r\n",
		},
		{
			"GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2\r\nX: y\r\n\r\n", "192.0.2.1", "http",
			"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 192.0.2.1\r\nX-Forwarded-Proto: http\r\nVia: 1.1 wasmgate\r\n\r\n",
		},
	}
	for _, tc := range tests {
		var r Request
		if got := ParseRequest([]byte(tc.in), &r); got != OK {
			t.Fatalf("ParseRequest(%q) = %v", tc.in, got)
		}
		client := netip.MustParseAddr(tc.client)
		out := AppendUpstream(nil, []byte(tc.in), &r, client, tc.scheme, testVia)
		if string(out) != tc.want {
			t.Errorf("AppendUpstream(%q)\n got %q\nwant %q", tc.in, out, tc.want)
		}
		checkUpstream(t, []byte(tc.in), out, &r, client, tc.scheme, testVia)
	}
}

// TestAppendUpstreamOK: every plain request forwards as net/http reads it.
func TestAppendUpstreamOK(t *testing.T) {
	for _, tc := range requestOK {
		var r Request
		in := []byte(tc.in)
		if ParseRequest(in, &r) != OK {
			t.Fatalf("%s: not OK", tc.name)
		}
		out := AppendUpstream(nil, in, &r, testClient, "http", testVia)
		checkUpstream(t, in, out, &r, testClient, "http", testVia)
	}
}

// responseCases are ParseResponse's table.
var responseCases = []struct {
	name      string
	in        string
	head      bool // the request was HEAD
	want      Result
	status    int
	framing   Framing
	cl        int64
	close     bool
	keepAlive string // "-" when absent
}{
	{name: "200 Length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", want: OK, status: 200, framing: Length, cl: 5, keepAlive: "-"},
	{name: "Length 0", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", want: OK, status: 200, framing: Length, cl: 0, keepAlive: "-"},
	{name: "Length big", in: "HTTP/1.1 200 OK\r\ncontent-length: 999999999999999999\r\n\r\n", want: OK, status: 200, framing: Length, cl: 999999999999999999, keepAlive: "-"},
	{name: "Length leading zeros", in: "HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n", want: OK, status: 200, framing: Length, cl: 7, keepAlive: "-"},
	{name: "Length OWS", in: "HTTP/1.1 200 OK\r\nContent-Length:\t 12 \r\n\r\n", want: OK, status: 200, framing: Length, cl: 12, keepAlive: "-"},
	{name: "duplicate identical CL", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", want: OK, status: 200, framing: Length, cl: 5, keepAlive: "-"},
	{name: "no reason phrase", in: "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", want: OK, status: 404, framing: Length, keepAlive: "-"},
	{name: "empty reason phrase", in: "HTTP/1.1 503 \r\nContent-Length: 0\r\n\r\n", want: OK, status: 503, framing: Length, keepAlive: "-"},
	{name: "reason with tab and obs-text", in: "HTTP/1.1 418 I'm a\tt\xe9apot\r\nContent-Length: 0\r\n\r\n", want: OK, status: 418, framing: Length, keepAlive: "-"},
	{name: "status 999", in: "HTTP/1.1 999 X\r\nContent-Length: 0\r\n\r\n", want: OK, status: 999, framing: Length, keepAlive: "-"},
	{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", want: OK, status: 200, framing: Chunked, keepAlive: "-"},
	{name: "Chunked case", in: "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n", want: OK, status: 200, framing: Chunked, keepAlive: "-"},
	{name: "gzip, chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", want: OK, status: 200, framing: Chunked, keepAlive: "-"},
	{name: "gzip,chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\tchunked \r\n\r\n", want: OK, status: 200, framing: Chunked, keepAlive: "-"},
	{name: "TE gzip only", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", want: OK, status: 200, framing: UntilClose, close: true, keepAlive: "-"},
	{name: "TE chunked, gzip", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", want: OK, status: 200, framing: UntilClose, close: true, keepAlive: "-"},
	{name: "no framing", in: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", want: OK, status: 200, framing: UntilClose, close: true, keepAlive: "-"},
	{name: "no fields", in: "HTTP/1.1 200 OK\r\n\r\n", want: OK, status: 200, framing: UntilClose, close: true, keepAlive: "-"},
	{name: "HEAD", in: "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", head: true, want: OK, status: 200, framing: NoBody, keepAlive: "-"},
	{name: "HEAD chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", head: true, want: OK, status: 200, framing: NoBody, keepAlive: "-"},
	{name: "HEAD no framing", in: "HTTP/1.1 200 OK\r\n\r\n", head: true, want: OK, status: 200, framing: NoBody, keepAlive: "-"},
	{name: "204", in: "HTTP/1.1 204 No Content\r\n\r\n", want: OK, status: 204, framing: NoBody, keepAlive: "-"},
	{name: "HEAD duplicate identical CL", in: "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", head: true, want: OK, status: 200, framing: NoBody, keepAlive: "-"},
	{name: "304", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", want: OK, status: 304, framing: NoBody, keepAlive: "-"},
	{name: "100", in: "HTTP/1.1 100 Continue\r\n\r\n", want: OK, status: 100, framing: NoBody, keepAlive: "-"},
	{name: "103", in: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", want: OK, status: 103, framing: NoBody, keepAlive: "-"},
	{name: "205 has a body framing", in: "HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", want: OK, status: 205, framing: Length, keepAlive: "-"},
	{name: "Connection close", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", want: OK, status: 200, framing: Length, cl: 5, close: true, keepAlive: "-"},
	{name: "Connection keep-alive, CLOSE", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, CLOSE\r\n\r\n", want: OK, status: 200, framing: Length, cl: 5, close: true, keepAlive: "-"},
	{name: "HTTP/1.1 keep-alive", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=100\r\n\r\n", want: OK, status: 200, framing: Length, cl: 5, keepAlive: "timeout=5, max=100"},
	{name: "HTTP/1.0", in: "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", want: OK, status: 200, framing: Length, cl: 5, close: true, keepAlive: "-"},
	{name: "HTTP/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5\r\n\r\n", want: OK, status: 200, framing: Length, cl: 5, keepAlive: "timeout=5"},
	{name: "HTTP/1.0 keep-alive no framing", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", want: OK, status: 200, framing: UntilClose, close: true, keepAlive: "-"},
	{name: "HTTP/1.0 204 keep-alive", in: "HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n", want: OK, status: 204, framing: NoBody, keepAlive: "-"},
	{name: "HTTP/1.0 close, keep-alive", in: "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: close, keep-alive\r\n\r\n", want: OK, status: 200, framing: Length, cl: 5, close: true, keepAlive: "-"},
	{name: "HTTP/1.0 keep-alive, close", in: "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, close\r\n\r\n", want: OK, status: 200, framing: Length, cl: 5, close: true, keepAlive: "-"},
	{name: "HTTP/1.0 two Connection fields", in: "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", want: OK, status: 200, framing: Length, cl: 5, close: true, keepAlive: "-"},
	{name: "HTTP/1.0 chunked keep-alive", in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n", want: OK, status: 200, framing: Chunked, close: true, keepAlive: "-"},
	{name: "Keep-Alive last wins", in: "HTTP/1.1 200 OK\r\nKeep-Alive: a\r\nContent-Length: 0\r\nKeep-Alive: b\r\n\r\n", want: OK, status: 200, framing: Length, keepAlive: "b"},
	{name: "Keep-Alive empty", in: "HTTP/1.1 200 OK\r\nKeep-Alive:\r\nContent-Length: 0\r\n\r\n", want: OK, status: 200, framing: Length, keepAlive: ""},
	{name: "Connection names 4", in: "HTTP/1.1 200 OK\r\nConnection: a, b, c, d, close, keep-alive\r\nContent-Length: 0\r\n\r\n", want: OK, status: 200, framing: Length, close: true, keepAlive: "-"},

	{name: "CL and TE", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", want: HandOff},
	{name: "TE and CL", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", want: HandOff},
	{name: "two TE", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", want: HandOff},
	{name: "conflicting CL", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", want: HandOff},
	{name: "CL list", in: "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", want: HandOff},
	{name: "CL negative", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", want: HandOff},
	{name: "CL plus", in: "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", want: HandOff},
	{name: "CL hex", in: "HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n", want: HandOff},
	{name: "CL empty", in: "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", want: HandOff},
	{name: "CL inner space", in: "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", want: HandOff},
	{name: "CL too long", in: "HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n", want: HandOff},
	{name: "HEAD bad CL", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", head: true, want: HandOff},
	{name: "304 conflicting CL", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", want: HandOff},
	{name: "204 CL list", in: "HTTP/1.1 204 No Content\r\nContent-Length: 0, 0\r\n\r\n", want: HandOff},
	{name: "100 CL empty", in: "HTTP/1.1 100 Continue\r\nContent-Length:\r\n\r\n", want: HandOff},
	{name: "Connection names 5", in: "HTTP/1.1 200 OK\r\nConnection: a, b, c, d, e\r\nContent-Length: 0\r\n\r\n", want: HandOff},
	{name: "status letters", in: "HTTP/1.1 2x0 OK\r\n\r\n", want: HandOff},
	{name: "status 099", in: "HTTP/1.1 099 X\r\n\r\n", want: HandOff},
	{name: "status two digits", in: "HTTP/1.1 20 OK\r\n\r\n", want: HandOff},
	{name: "status four digits", in: "HTTP/1.1 2000 OK\r\n\r\n", want: HandOff},
	{name: "status no space", in: "HTTP/1.1 200OK\r\n\r\n", want: HandOff},
	{name: "two spaces", in: "HTTP/1.1  200 OK\r\n\r\n", want: HandOff},
	{name: "negative status", in: "HTTP/1.1 -20 OK\r\n\r\n", want: HandOff},
	{name: "HTTP/1.2", in: "HTTP/1.2 200 OK\r\n\r\n", want: HandOff},
	{name: "HTTP/2", in: "HTTP/2 200 OK\r\n\r\n", want: HandOff},
	{name: "lowercase proto", in: "http/1.1 200 OK\r\n\r\n", want: HandOff},
	{name: "ICY", in: "ICY 200 OK\r\n\r\n", want: HandOff},
	{name: "CTL in reason", in: "HTTP/1.1 200 O\x01K\r\n\r\n", want: HandOff},
	{name: "DEL in reason", in: "HTTP/1.1 200 O\x7fK\r\n\r\n", want: HandOff},
	{name: "bare LF status line", in: "HTTP/1.1 200 OK\nContent-Length: 0\n\n", want: HandOff},
	{name: "bare LF field", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", want: HandOff},
	{name: "bare LF end", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", want: HandOff},
	{name: "CR in reason", in: "HTTP/1.1 200 O\rK\r\n\r\n", want: HandOff},
	{name: "obs-fold", in: "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", want: HandOff},
	{name: "space before colon", in: "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", want: HandOff},
	{name: "NUL in value", in: "HTTP/1.1 200 OK\r\nX: \x00\r\nContent-Length: 0\r\n\r\n", want: HandOff},
	{name: "CTL in value", in: "HTTP/1.1 200 OK\r\nX: a\x08b\r\nContent-Length: 0\r\n\r\n", want: HandOff},
	{name: "too many fields", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: y\r\n", maxFields+1) + "\r\n", want: HandOff},
}

func TestParseResponse(t *testing.T) {
	var r Response
	for _, tc := range responseCases {
		t.Run(tc.name, func(t *testing.T) {
			// Dirty the reused Response first: nothing may leak.
			ParseResponse([]byte("HTTP/1.0 299 X\r\nConnection: close, x-a\r\nKeep-Alive: z\r\nContent-Length: 77\r\n\r\n"), false, &r)
			b := []byte(tc.in)
			got := ParseResponse(b, tc.head, &r)
			if got != tc.want {
				t.Fatalf("ParseResponse(%q) = %v, want %v", tc.in, got, tc.want)
			}
			if got != OK {
				return
			}
			if wantLen := bytes.Index(b, []byte("\r\n\r\n")) + 4; r.Len != wantLen {
				t.Errorf("Len = %d, want %d", r.Len, wantLen)
			}
			if r.Status != tc.status {
				t.Errorf("Status = %d, want %d", r.Status, tc.status)
			}
			if r.Framing != tc.framing {
				t.Errorf("Framing = %v, want %v", r.Framing, tc.framing)
			}
			if r.Framing == Length && r.ContentLength != tc.cl {
				t.Errorf("ContentLength = %d, want %d", r.ContentLength, tc.cl)
			}
			if r.Close != tc.close {
				t.Errorf("Close = %v, want %v", r.Close, tc.close)
			}
			switch {
			case tc.keepAlive == "-" && r.KeepAlive != nil:
				t.Errorf("KeepAlive = %q, want nil", r.KeepAlive)
			case tc.keepAlive != "-" && (r.KeepAlive == nil || string(r.KeepAlive) != tc.keepAlive):
				t.Errorf("KeepAlive = %q, want %q", r.KeepAlive, tc.keepAlive)
			}
		})
	}
}

// TestParseResponseNetHTTP: where net/http reads an HTTP/1.1 head
// ParseResponse takes, they agree on framing and on closing.
func TestParseResponseNetHTTP(t *testing.T) {
	for _, tc := range responseCases {
		if tc.want != OK {
			continue
		}
		var r Response
		ParseResponse([]byte(tc.in), tc.head, &r)
		compareNetHTTPResponse(t, []byte(tc.in)[:r.Len], tc.head, &r)
	}
}

// compareNetHTTPResponse checks r against what net/http makes of head,
// when net/http reads it at all.
func compareNetHTTPResponse(t testing.TB, head []byte, isHead bool, r *Response) {
	t.Helper()
	method := "GET"
	if isHead {
		method = "HEAD"
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &http.Request{Method: method})
	if err != nil {
		return // "gzip, chunked", Transfer-Encoding: gzip, ...
	}
	if resp.StatusCode != r.Status {
		t.Errorf("%q: net/http status %d, ParseResponse %d", head, resp.StatusCode, r.Status)
	}
	if resp.ProtoMinor == 0 && r.seen&fieldTransferEncoding != 0 {
		return // net/http ignores Transfer-Encoding in HTTP/1.0 (go.dev/issue/12785)
	}
	if resp.Close != r.Close {
		t.Errorf("%q: net/http Close %v, ParseResponse %v", head, resp.Close, r.Close)
	}
	switch r.Framing {
	case Length:
		if resp.ContentLength != r.ContentLength {
			t.Errorf("%q: net/http ContentLength %d, ParseResponse %d", head, resp.ContentLength, r.ContentLength)
		}
	case Chunked:
		if !reflect.DeepEqual(resp.TransferEncoding, []string{"chunked"}) {
			t.Errorf("%q: net/http TransferEncoding %q, ParseResponse Chunked", head, resp.TransferEncoding)
		}
	case UntilClose:
		if resp.ContentLength != -1 || resp.TransferEncoding != nil {
			t.Errorf("%q: net/http ContentLength %d TransferEncoding %q, ParseResponse UntilClose", head, resp.ContentLength, resp.TransferEncoding)
		}
	case NoBody:
		if resp.Body != http.NoBody && resp.ContentLength != 0 {
			t.Errorf("%q: net/http ContentLength %d with a body, ParseResponse NoBody", head, resp.ContentLength)
		}
	}
}

// TestParseResponsePrefixes: every proper prefix of a head is Incomplete.
func TestParseResponsePrefixes(t *testing.T) {
	var r Response
	for _, tc := range responseCases {
		if tc.want != OK {
			continue
		}
		n := strings.Index(tc.in, "\r\n\r\n") + 4
		for i := range n {
			if got := ParseResponse([]byte(tc.in[:i]), tc.head, &r); got != Incomplete {
				t.Errorf("%s: ParseResponse(%q) = %v, want Incomplete", tc.name, tc.in[:i], got)
			}
		}
	}
}

func TestParseResponseSizeLimit(t *testing.T) {
	const start = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: "
	exact := start + strings.Repeat("v", 0xffff-len(start)-4) + "\r\n\r\n"
	var r Response
	if got := ParseResponse([]byte(exact+"body"), false, &r); got != OK || r.Len != 0xffff {
		t.Errorf("head of 0xffff bytes: %v Len %d, want OK", got, r.Len)
	}
	for _, in := range []string{
		start + strings.Repeat("v", 0xffff-len(start)-3) + "\r\n\r\n",
		start + strings.Repeat("v", 70000),
		"HTTP/1.1 200 " + strings.Repeat("v", 70000),
	} {
		if got := ParseResponse([]byte(in), false, &r); got != HandOff {
			t.Errorf("ParseResponse(%d bytes %.40q...) = %v, want HandOff", len(in), in, got)
		}
	}
}

func TestAppendClient(t *testing.T) {
	const date = "Sun, 06 Nov 1994 08:49:37 GMT"
	tests := []struct {
		name    string
		in      string
		body    string // a complete body, after which a second response follows
		closing bool
		want    string // exact output
		header  http.Header
	}{
		{
			name: "hop-by-hop dropped",
			in: "HTTP/1.1 200 OK\r\n" +
				"Content-Type: text/plain\r\n" +
				"Connection: keep-alive, X-Hop, x-other\r\n" +
				"Keep-Alive: timeout=5\r\n" +
				"Proxy-Connection: keep-alive\r\n" +
				"Proxy-Authenticate: Basic\r\n" +
				"TE: trailers\r\n" +
				"Trailer: X-Checksum\r\n" +
				"Upgrade: h2c\r\n" +
				"X-Hop: secret\r\n" +
				"X-OTHER: secret\r\n" +
				"Transfer-Encoding: chunked\r\n" +
				"X-Keep: yes\r\n" +
				"\r\n",
			body: "5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nX-Keep: yes\r\nDate: " + date + "\r\n\r\n",
			header: http.Header{
				"Content-Type": {"text/plain"},
				"X-Keep":       {"yes"},
				"Date":         {date},
			},
		},
		{
			name:    "closing",
			in:      "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
			body:    "abc",
			closing: true,
			want:    "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nDate: " + date + "\r\nConnection: close\r\n\r\n",
		},
		{
			name: "upstream closes, client stays",
			in:   "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
			body: "abc",
			want: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nDate: " + date + "\r\n\r\n",
		},
		{
			name: "Date kept, not added",
			in:   "HTTP/1.1 200 OK\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "HTTP/1.0 becomes HTTP/1.1",
			in:   "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n",
			body: "hi",
			want: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: " + date + "\r\n\r\n",
		},
		{
			name:    "until close",
			in:      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n",
			body:    "all of it",
			closing: true,
			want:    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: " + date + "\r\nConnection: close\r\n\r\n",
		},
		{
			name: "no reason phrase",
			in:   "HTTP/1.1 204\r\nX: y\r\n\r\n",
			want: "HTTP/1.1 204\r\nX: y\r\nDate: " + date + "\r\n\r\n",
		},
		{
			name: "gzip, chunked kept",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nDate: " + date + "\r\n\r\n",
		},
		{
			// A Connection option naming a framing field must not strip
			// it: the body passes through framed as it is.
			name: "Connection names Content-Length",
			in:   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: Content-Length\r\n\r\n",
			body: "hello",
			want: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: " + date + "\r\n\r\n",
		},
		{
			name: "Connection names Transfer-Encoding",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding, keep-alive\r\n\r\n",
			body: "5\r\nhello\r\n0\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: " + date + "\r\n\r\n",
		},
		{
			// Nor Date: HasDate says there is one, so none is added.
			name: "Connection names Date",
			in:   "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 0\r\nConnection: Date\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
		},
	}
	const next = "HTTP/1.1 299 Next\r\nContent-Length: 4\r\n\r\nnext"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			if got := ParseResponse([]byte(tc.in), false, &r); got != OK {
				t.Fatalf("ParseResponse = %v", got)
			}
			out := AppendClient([]byte("x"), []byte(tc.in), &r, []byte(date), tc.closing)
			if out[0] != 'x' {
				t.Fatalf("dst not kept: %q", out)
			}
			out = out[1:]
			if string(out) != tc.want {
				t.Errorf("AppendClient(%q)\n got %q\nwant %q", tc.in, out, tc.want)
			}
			checkClient(t, []byte(tc.in), out, &r, false, []byte(date), tc.closing)
			if strings.Contains(tc.in, "gzip") {
				return // net/http takes no Transfer-Encoding but "chunked"
			}

			// The client reads the body as the upstream framed it, and
			// then the next response on the connection.
			stream := string(out) + tc.body
			if !tc.closing {
				stream += next
			}
			br := bufio.NewReader(strings.NewReader(stream))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("http.ReadResponse: %v", err)
			}
			for k, v := range tc.header {
				if !reflect.DeepEqual(resp.Header[k], v) {
					t.Errorf("%s = %q, want %q", k, resp.Header[k], v)
				}
			}
			if tc.header != nil && len(resp.Header) != len(tc.header) {
				t.Errorf("header %v, want %v", resp.Header, tc.header)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			want := tc.body
			if r.Framing == Chunked {
				b, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(tc.body)))
				if err != nil {
					t.Fatal(err)
				}
				want = string(b)
			}
			if string(body) != want {
				t.Errorf("body %q, want %q", body, want)
			}
			if !tc.closing {
				resp2, err := http.ReadResponse(br, nil)
				if err != nil || resp2.StatusCode != 299 {
					t.Fatalf("next response: %v %v", resp2, err)
				}
			}
		})
	}
}

// checkClient checks what AppendClient wrote for the response head in
// (parsed into r): net/http reads it with the same status, and it has
// exactly the upstream's end-to-end fields, in order, then Date when the
// upstream sent none, then Connection: close when closing.
func checkClient(t testing.TB, in, out []byte, r *Response, isHead bool, date []byte, closing bool) {
	t.Helper()
	head := in[:r.Len]
	method := "GET"
	if isHead {
		method = "HEAD"
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), &http.Request{Method: method})
	switch {
	case err == nil:
		if resp.StatusCode != r.Status || resp.Proto != "HTTP/1.1" {
			t.Errorf("status %d %s, want %d HTTP/1.1", resp.StatusCode, resp.Proto, r.Status)
		}
		if want := closing || r.Framing == UntilClose; resp.Close != want {
			t.Errorf("net/http Close %v, want %v", resp.Close, want)
		}
	case r.seen&fieldTransferEncoding != 0 && !onlyChunked(head, r):
		// net/http takes no Transfer-Encoding but "chunked".
	default:
		t.Fatalf("http.ReadResponse(AppendClient(%q)) = %v\noutput %q", head, err, out)
	}
	if want := append([]byte("HTTP/1.1"), head[8:r.statusEnd]...); !bytes.HasPrefix(out, append(want, '\r', '\n')) {
		t.Errorf("status line of %q, want %q", out, want)
	}
	var want [][2]string
	hasDate := false
	for _, f := range fieldList(head, &r.fields) {
		switch c := Classify([]byte(f[0])); {
		case c == fieldContentLength || c == fieldTransferEncoding || c == fieldDate:
			// framing, and the Date that HasDate reports, always pass
			hasDate = hasDate || c == fieldDate
		case c == fieldConnection || c == fieldHop || c == fieldKeepAlive || c == fieldUpgrade:
			continue
		case r.dropped([]byte(f[0])):
			continue
		}
		want = append(want, f)
	}
	if !hasDate && len(date) > 0 {
		want = append(want, [2]string{"Date", string(date)})
	}
	if closing {
		want = append(want, [2]string{"Connection", "close"})
	}
	var got [][2]string
	start := bytes.Index(out, []byte("\r\n")) + 2
	if countLines(out) <= maxFields {
		var r2 Response
		if end := r2.parseFields(out[start:], start); start+end != len(out) {
			t.Fatalf("fields of %q end at %d", out, start+end)
		}
		got = fieldList(out, &r2.fields)
	} else {
		// A full head plus the Date and Connection that AppendClient adds
		// is more than parseFields takes: split the lines plainly.
		for line := range bytes.SplitSeq(bytes.TrimSuffix(out[start:], []byte("\r\n\r\n")), []byte("\r\n")) {
			name, value, _ := bytes.Cut(line, []byte(":"))
			got = append(got, [2]string{string(name), string(bytes.Trim(value, " \t"))})
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields sent %q, want %q", got, want)
	}
}

// onlyChunked reports whether the head has one Transfer-Encoding field
// and it is "chunked".
func onlyChunked(head []byte, r *Response) bool {
	v := r.value(head, fieldTransferEncoding)
	return r.seen&fieldTransferEncoding != 0 && r.dup&fieldTransferEncoding == 0 && EqualFold(v, "chunked")
}

// TestAppendClientOK: every response head ParseResponse takes goes to the
// client in a form net/http reads.
func TestAppendClientOK(t *testing.T) {
	for _, tc := range responseCases {
		if tc.want != OK {
			continue
		}
		for _, closing := range []bool{false, true} {
			for _, date := range []string{"", "Sun, 06 Nov 1994 08:49:37 GMT"} {
				var r Response
				ParseResponse([]byte(tc.in), tc.head, &r)
				out := AppendClient(nil, []byte(tc.in), &r, []byte(date), closing)
				checkClient(t, []byte(tc.in), out, &r, tc.head, []byte(date), closing)
			}
		}
	}
}

// chunkedOK are bodies in the chunked coding; data is what they carry.
var chunkedOK = []struct {
	name, body, data string
	net              bool // net/http's chunked reader reads it too
}{
	{"last chunk only", "0\r\n\r\n", "", true},
	{"one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", true},
	{"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", true},
	{"extensions", "5;name=value\r\nhello\r\nA;x;y=\"q;\\\"r\"\r\n0123456789\r\n0;ext\r\n\r\n", "hello0123456789", true},
	{"uppercase hex", "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", "abcdefghijklmnopqrstuvwxyz", true},
	{"lowercase hex", "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", "abcdefghijklmnopqrstuvwxyz", true},
	{"mixed hex", "1f\r\n" + strings.Repeat("x", 31) + "\r\nF\r\n" + strings.Repeat("y", 15) + "\r\n0\r\n\r\n", strings.Repeat("x", 31) + strings.Repeat("y", 15), true},
	{"leading zeros", "005\r\nhello\r\n0000\r\n\r\n", "hello", true},
	{"15 digits", "00000000000000f\r\n" + strings.Repeat("z", 15) + "\r\n0\r\n\r\n", strings.Repeat("z", 15), true},
	{"trailers", "3\r\nabc\r\n0\r\nX-Trailer: v\r\nChecksum: 1234\r\n\r\n", "abc", true},
	{"trailer empty value", "0\r\nX:\r\n\r\n", "", true},
	{"end inside data", "7\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n", "0\r\n\r\n\r\n", true},
	{"binary data", "4\r\n\x00\r\n\xff\r\n0\r\n\r\n", "\x00\r\n\xff", true},
	{"trailing OWS in size line", "5 \t\r\nhello\r\n0\t\r\n\r\n", "hello", true},
	{"OWS before extension", "5 ;a=b\r\nhello\r\n0\r\n\r\n", "hello", false},
	{"big chunk", "1000\r\n" + strings.Repeat("b", 0x1000) + "\r\n0\r\n\r\n", strings.Repeat("b", 0x1000), true},
}

// chunkedBad are malformed bodies and the offset of the first byte the
// scanner must refuse.
var chunkedBad = []struct {
	name, body string
	at         int
	net        bool // net/http's chunked reader refuses it too
}{
	{"empty size", "\r\n", 0, true},
	{"non-hex size", "g\r\n", 0, true},
	{"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", 1, true},
	{"negative size", "-1\r\n", 0, true},
	{"leading space", " 5\r\nhello\r\n0\r\n\r\n", 0, true},
	{"16 digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", 15, false},
	{"17 digits", "10000000000000000\r\n", 15, true},
	{"junk after size", "5x\r\nhello\r\n0\r\n\r\n", 1, true},
	{"bare LF after size", "5\nhello\r\n0\r\n\r\n", 1, true},
	{"CR CR after size", "5\r\r\nhello\r\n0\r\n\r\n", 2, true},
	{"LF in extension", "5;a\nhello\r\n0\r\n\r\n", 3, true},
	{"CR in extension", "5;a\rb\r\nhello\r\n0\r\n\r\n", 4, true},
	{"data too long", "5\r\nhello!\r\n0\r\n\r\n", 8, true},
	{"data too short", "5\r\nhell\r\n0\r\n\r\n", 8, true},
	{"bare LF after data", "5\r\nhello\n0\r\n\r\n", 8, true},
	{"CR CR after data", "5\r\nhello\r\r\n0\r\n\r\n", 9, true},
	{"bare LF after last chunk", "0\n\r\n", 1, true},
	{"bare LF end", "5\r\nhello\r\n0\r\n\n", 13, false},
	{"bare LF trailer line", "0\r\n\n\r\n\r\n", 3, false},
	{"CR without LF at end", "0\r\n\rX", 4, true},
	{"bare LF in trailer", "0\r\nX: y\n\r\n", 7, false},
	{"CR CR in trailer", "0\r\nX: y\r\r\n\r\n", 8, true},
}

// scanSplit feeds data to a ChunkScanner in the pieces that cuts mark and
// returns the offset in data where the body ended (or the coding broke,
// or the input ran out), whether it ended, and whether it is well formed.
func scanSplit(t testing.TB, data []byte, cuts ...int) (end int, done, ok bool) {
	t.Helper()
	var c ChunkScanner
	prev := 0
	for _, cut := range append(cuts, len(data)) {
		if cut < prev {
			continue
		}
		n, done, ok := c.Scan(data[prev:cut])
		if n < 0 || n > cut-prev {
			t.Fatalf("Scan(%d bytes) = %d", cut-prev, n)
		}
		if !ok {
			if done {
				t.Fatalf("Scan: done but not ok")
			}
			return prev + n, false, false
		}
		if done {
			// Once done, the scanner takes nothing more.
			if n2, done2, ok2 := c.Scan(data[prev+n:]); n2 != 0 || !done2 || !ok2 {
				t.Fatalf("Scan after the end = %d %v %v, want 0 true true", n2, done2, ok2)
			}
			return prev + n, true, true
		}
		if n != cut-prev {
			t.Fatalf("Scan(%d bytes) = %d, not done, ok", cut-prev, n)
		}
		prev = cut
	}
	return len(data), false, true
}

// scanSplitAll checks that data scans the same whole, split at every
// point, and byte by byte, and returns that.
func scanSplitAll(t testing.TB, data []byte) (end int, done, ok bool) {
	t.Helper()
	end, done, ok = scanSplit(t, data)
	for i := 0; i <= len(data); i++ {
		e, d, o := scanSplit(t, data, i)
		if e != end || d != done || o != ok {
			t.Fatalf("Scan(%q) split at %d = %d %v %v, whole %d %v %v", data, i, e, d, o, end, done, ok)
		}
	}
	cuts := make([]int, len(data))
	for i := range cuts {
		cuts[i] = i
	}
	if e, d, o := scanSplit(t, data, cuts...); e != end || d != done || o != ok {
		t.Fatalf("Scan(%q) byte by byte = %d %v %v, whole %d %v %v", data, e, d, o, end, done, ok)
	}
	return end, done, ok
}

// netChunked reads a chunked body with net/http's reader and then its
// trailer section as net/http does, and returns the data and where the
// body ended.
func netChunked(body []byte) (data []byte, end int, err error) {
	rd := bytes.NewReader(body)
	br := bufio.NewReader(rd)
	data, err = io.ReadAll(httputil.NewChunkedReader(br))
	if err != nil {
		return nil, 0, err
	}
	if _, err := textproto.NewReader(br).ReadMIMEHeader(); err != nil {
		return nil, 0, err
	}
	return data, len(body) - rd.Len() - br.Buffered(), nil
}

func TestChunkScanner(t *testing.T) {
	const extra = "HTTP/1.1 200 OK\r\n"
	for _, tc := range chunkedOK {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.body + extra)
			end, done, ok := scanSplitAll(t, in)
			if !ok || !done || end != len(tc.body) {
				t.Fatalf("Scan = %d %v %v, want %d true true", end, done, ok, len(tc.body))
			}
			// Every proper prefix is a body not yet ended.
			for i := range len(tc.body) {
				var c ChunkScanner
				if n, done, ok := c.Scan(in[:i]); n != i || done || !ok {
					t.Fatalf("Scan(%q) = %d %v %v, want %d false true", in[:i], n, done, ok, i)
				}
			}
			data, netEnd, err := netChunked(in)
			if !tc.net {
				if err == nil {
					t.Fatalf("net/http reads %q: the table is wrong", tc.body)
				}
				return
			}
			if err != nil {
				t.Fatalf("net/http: %v", err)
			}
			if string(data) != tc.data || netEnd != end {
				t.Errorf("net/http reads %q ending at %d; scanner ends at %d", data, netEnd, end)
			}
		})
	}
}

func TestChunkScannerMalformed(t *testing.T) {
	for _, tc := range chunkedBad {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.body)
			end, done, ok := scanSplitAll(t, in)
			if ok || done || end != tc.at {
				t.Errorf("Scan(%q) = %d %v %v, want %d false false", in, end, done, ok, tc.at)
			}
			if _, _, err := netChunked(in); (err != nil) != tc.net {
				t.Errorf("net/http error %v, table says refused=%v", err, tc.net)
			}
		})
	}
}

// TestChunkScannerHuge: a 15-digit size is taken and counted down across
// calls without overflow.
func TestChunkScannerHuge(t *testing.T) {
	var c ChunkScanner
	if n, done, ok := c.Scan([]byte("fffffffffffffff\r\n")); n != 17 || done || !ok {
		t.Fatalf("size line: %d %v %v", n, done, ok)
	}
	buf := make([]byte, 1<<16)
	for range 4 {
		if n, done, ok := c.Scan(buf); n != len(buf) || done || !ok {
			t.Fatalf("data: %d %v %v", n, done, ok)
		}
	}
	if c.size != 0xfffffffffffffff-4<<16 {
		t.Errorf("size left %x", c.size)
	}
}

// TestChunkScannerStopsAtError: a malformed byte leaves the scanner where
// it was, so it is refused again.
func TestChunkScannerStopsAtError(t *testing.T) {
	for _, tc := range chunkedBad {
		var c ChunkScanner
		in := []byte(tc.body)
		n, _, ok := c.Scan(in)
		if ok {
			t.Fatalf("%s: ok", tc.name)
		}
		if n2, done, ok := c.Scan(in[n:]); n2 != 0 || done || ok {
			t.Errorf("%s: Scan again = %d %v %v", tc.name, n2, done, ok)
		}
	}
}

func TestResponseBodyLength(t *testing.T) {
	tests := []struct {
		in   string
		head bool
		want int64
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", false, 42},
		{"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", true, 0},
		{"HTTP/1.1 204 No Content\r\n\r\n", false, 0},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, -1},
		{"HTTP/1.0 200 OK\r\n\r\n", false, -1},
	}
	for _, tc := range tests {
		var r Response
		if got := ParseResponse([]byte(tc.in), tc.head, &r); got != OK {
			t.Fatalf("ParseResponse(%q) = %v", tc.in, got)
		}
		if got := r.BodyLength(); got != tc.want {
			t.Errorf("BodyLength of %q (HEAD %v) = %d, want %d", tc.in, tc.head, got, tc.want)
		}
	}
}
