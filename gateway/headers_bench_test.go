package gateway

import (
	"net/netip"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkPrepareRequest measures turning a typical client request head
// into the upstream's (hop-by-hop removal, X-Forwarded-*, Via).
func BenchmarkPrepareRequest(b *testing.B) {
	var tmpl fasthttp.RequestHeader
	tmpl.SetMethod("GET")
	tmpl.SetRequestURI("/bench")
	tmpl.SetHost("example.com")
	tmpl.Set("User-Agent", "wrk")
	tmpl.Set("Accept", "*/*")
	var h fasthttp.RequestHeader
	var buf, hop []byte
	client := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		tmpl.CopyTo(&h)
		buf, hop = prepareRequest(&h, client, "http", "1.1 wasmgate", false, buf, hop)
	}
}

// BenchmarkStripResponseHopHeaders measures cleaning a typical upstream
// response head.
func BenchmarkStripResponseHopHeaders(b *testing.B) {
	var tmpl fasthttp.ResponseHeader
	tmpl.SetStatusCode(200)
	tmpl.SetContentType("text/plain")
	tmpl.SetContentLength(1024)
	tmpl.Set("Server", "backend")
	var h fasthttp.ResponseHeader
	var hop []byte
	b.ReportAllocs()
	for b.Loop() {
		tmpl.CopyTo(&h)
		hop = stripResponseHopHeaders(&h, hop)
	}
}
