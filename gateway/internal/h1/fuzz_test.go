package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"testing"
)

var fuzzClients = []netip.Addr{
	netip.MustParseAddr("192.0.2.1"),
	netip.MustParseAddr("2001:db8::1"),
}

// countLines returns how many header lines a serialized head has.
func countLines(head []byte) int {
	return bytes.Count(head, []byte("\r\n")) - 2
}

func FuzzParseRequest(f *testing.F) {
	for _, tc := range requestOK {
		f.Add([]byte(tc.in))
	}
	for _, s := range []string{
		"",
		"GET / HTTP/1.1\r\nHost: a\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, foo\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
		"A / HTTP/1.1\r\nHost:\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		switch ParseRequest(data, &r) {
		case Incomplete:
			// Only a head that has not ended, and can still end as a
			// plain one, waits for more.
			if len(data) >= 0xffff {
				t.Fatalf("Incomplete for %d bytes", len(data))
			}
			if bytes.Contains(data, []byte("\r\n\r\n")) {
				t.Fatalf("Incomplete for %q, which has an empty line", data)
			}
			if got := ParseRequest(data[:len(data)/2], &r); got != Incomplete {
				t.Fatalf("ParseRequest(%q) = %v, but the longer %q is Incomplete", data[:len(data)/2], got, data)
			}
			return
		case HandOff:
			// Nothing that follows can make it plain.
			if got := ParseRequest(append(data[:len(data):len(data)], "\r\n\r\n"...), &r); got != HandOff {
				t.Fatalf("ParseRequest(%q + CRLFCRLF) = %v, but %q is HandOff", data, got, data)
			}
			return
		}
		if r.Len < len("A / HTTP/1.1\r\nHost:\r\n\r\n") || r.Len > len(data) || r.Len > 0xffff {
			t.Fatalf("Len %d for %d bytes", r.Len, len(data))
		}
		head := data[:r.Len]
		if !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			t.Fatalf("head %q does not end with an empty line", head)
		}
		// The head alone parses the same; one byte less is Incomplete.
		var r2 Request
		if got := ParseRequest(head, &r2); got != OK || r2.Len != r.Len || r2.Close != r.Close || r2.Head != r.Head {
			t.Fatalf("head alone: %v %+v, with what follows %+v", got, r2, r)
		}
		if got := ParseRequest(head[:len(head)-1], &r2); got != Incomplete {
			t.Fatalf("ParseRequest(%q) = %v, want Incomplete", head[:len(head)-1], got)
		}

		method := string(r.Method(head))
		target := string(r.Target(head))
		if r.Head != (method == "HEAD") {
			t.Fatalf("Head %v for method %q", r.Head, method)
		}

		// net/http reads the same request from what the client sent.
		if req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head))); err == nil {
			if req.Method != method || req.RequestURI != target || req.Close != r.Close || req.ContentLength != 0 {
				t.Fatalf("net/http reads %q as %s %s Close %v CL %d; ParseRequest Close %v",
					head, req.Method, req.RequestURI, req.Close, req.ContentLength, r.Close)
			}
			if host := r.Host(head); req.Host != string(host) {
				t.Fatalf("net/http Host %q, ParseRequest %q", req.Host, host)
			}
			for _, name := range []string{"User-Agent", "referer", "X-FORWARDED-FOR"} {
				if got, want := string(r.Field(head, name)), req.Header.Get(name); got != want {
					t.Fatalf("Field(%q) = %q, net/http %q in %q", name, got, want, head)
				}
			}
			if got, want := string(r.ForwardedFor(head)), req.Header.Get("X-Forwarded-For"); got != want {
				t.Fatalf("ForwardedFor = %q, net/http %q in %q", got, want, head)
			}
		} else if _, uerr := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: a\r\n\r\n"))); uerr == nil {
			t.Fatalf("net/http refuses %q (%v), ParseRequest takes it", head, err)
		}

		client := fuzzClients[len(data)%len(fuzzClients)]
		scheme := "http"
		if len(data)%3 == 0 {
			scheme = "https"
		}
		out := AppendUpstream(nil, head, &r, client, scheme, testVia)
		checkUpstream(t, head, out, &r, client, scheme, testVia)

		// What the plain path sends upstream is plain itself: the
		// forwarding fields are there once each, Connection is gone.
		if len(out) > 0xffff || countLines(out) > maxFields {
			return
		}
		var up Request
		if got := ParseRequest(out, &up); got != OK {
			t.Fatalf("ParseRequest(AppendUpstream(%q)) = %v\noutput %q", head, got, out)
		}
		if up.Len != len(out) || up.Close || up.Head != r.Head ||
			string(out[:up.methodEnd]) != method || string(out[up.methodEnd+1:up.targetEnd]) != target {
			t.Fatalf("re-parsed %q: %+v", out, up)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, tc := range responseCases {
		f.Add([]byte(tc.in), tc.head, false)
		f.Add([]byte(tc.in), !tc.head, true)
	}
	for _, s := range []string{
		"",
		"HTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: Content-Length, close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\nConnection: X-A\r\nX-A: 1\r\n\r\n",
	} {
		f.Add([]byte(s), false, false)
	}
	date := []byte("Sun, 06 Nov 1994 08:49:37 GMT")
	f.Fuzz(func(t *testing.T, data []byte, isHead, closing bool) {
		var r Response
		switch ParseResponse(data, isHead, &r) {
		case Incomplete:
			if len(data) >= 0xffff {
				t.Fatalf("Incomplete for %d bytes", len(data))
			}
			if len(data) >= 13 && bytes.Contains(data, []byte("\r\n\r\n")) {
				t.Fatalf("Incomplete for %q, which has an empty line", data)
			}
			if got := ParseResponse(data[:len(data)/2], isHead, &r); got != Incomplete {
				t.Fatalf("ParseResponse(%q) = %v, but the longer %q is Incomplete", data[:len(data)/2], got, data)
			}
			return
		case HandOff:
			if got := ParseResponse(append(data[:len(data):len(data)], "\r\n\r\n"...), isHead, &r); got != HandOff {
				t.Fatalf("ParseResponse(%q + CRLFCRLF) = %v, but %q is HandOff", data, got, data)
			}
			return
		}
		if r.Len > len(data) || r.Len > 0xffff || !bytes.HasSuffix(data[:r.Len], []byte("\r\n\r\n")) {
			t.Fatalf("Len %d for %q", r.Len, data)
		}
		head := data[:r.Len]
		var r2 Response
		if got := ParseResponse(head, isHead, &r2); got != OK || r2.Len != r.Len || r2.Status != r.Status ||
			r2.Framing != r.Framing || r2.ContentLength != r.ContentLength || r2.Close != r.Close ||
			!bytes.Equal(r2.KeepAlive, r.KeepAlive) {
			t.Fatalf("head alone: %v %+v, with what follows %+v", got, r2, r)
		}
		if got := ParseResponse(head[:len(head)-1], isHead, &r2); got != Incomplete {
			t.Fatalf("ParseResponse(%q) = %v, want Incomplete", head[:len(head)-1], got)
		}
		noBody := isHead || r.Status == 204 || r.Status == 304 || r.Status < 200
		switch {
		case r.Status < 100 || r.Status > 999:
			t.Fatalf("Status %d", r.Status)
		case noBody != (r.Framing == NoBody):
			t.Fatalf("Framing %v for status %d, HEAD %v", r.Framing, r.Status, isHead)
		case r.Framing == Length && r.ContentLength < 0:
			t.Fatalf("ContentLength %d", r.ContentLength)
		case r.Framing == UntilClose && !r.Close:
			t.Fatalf("UntilClose but not Close")
		case head[7] == '0' && r.seen&fieldTransferEncoding != 0 && r.Framing != NoBody && !r.Close:
			t.Fatalf("HTTP/1.0 with Transfer-Encoding but not Close") // RFC 9112 §6.1
		}
		compareNetHTTPResponse(t, head, isHead, &r)

		out := AppendClient(nil, head, &r, date, closing)
		checkClient(t, head, out, &r, isHead, date, closing)

		// What goes to the client reads back the same.
		if len(out) > 0xffff || countLines(out) > maxFields {
			return
		}
		var c Response
		if got := ParseResponse(out, isHead, &c); got != OK {
			t.Fatalf("ParseResponse(AppendClient(%q)) = %v\noutput %q", head, got, out)
		}
		if c.Len != len(out) || c.Status != r.Status || c.Framing != r.Framing ||
			c.Framing == Length && c.ContentLength != r.ContentLength ||
			c.Close != (closing || r.Framing == UntilClose) || c.KeepAlive != nil || c.nDrop != 0 {
			t.Fatalf("re-parsed %q: %+v; upstream %+v", out, c, r)
		}
	})
}

// hexRun reports whether b has n hex digits in a row.
func hexRun(b []byte, n int) bool {
	run := 0
	for _, c := range b {
		if hexVal(c) >= 0 {
			run++
			if run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

func FuzzChunkScanner(f *testing.F) {
	for _, tc := range chunkedOK {
		f.Add([]byte(tc.body), uint16(len(tc.body)/2))
		f.Add([]byte(tc.body+"0\r\n\r\n"), uint16(3))
	}
	for _, tc := range chunkedBad {
		f.Add([]byte(tc.body), uint16(tc.at))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		end, done, ok := scanSplit(t, data)
		// The same wherever the input is split.
		at := int(cut) % (len(data) + 1)
		if e, d, o := scanSplit(t, data, at); e != end || d != done || o != ok {
			t.Fatalf("Scan(%q) split at %d = %d %v %v, whole %d %v %v", data, at, e, d, o, end, done, ok)
		}
		if len(data) <= 4096 {
			cuts := make([]int, len(data))
			for i := range cuts {
				cuts[i] = i
			}
			if e, d, o := scanSplit(t, data, cuts...); e != end || d != done || o != ok {
				t.Fatalf("Scan(%q) byte by byte = %d %v %v, whole %d %v %v", data, e, d, o, end, done, ok)
			}
		}
		switch {
		case done:
			// A body ends with an empty line, and not before.
			if !bytes.HasSuffix(data[:end], []byte("\r\n\r\n")) {
				t.Fatalf("body %q ends without an empty line", data[:end])
			}
			var c ChunkScanner
			if n, d, o := c.Scan(data[:end-1]); n != end-1 || d || !o {
				t.Fatalf("Scan(%q) = %d %v %v, want not done", data[:end-1], n, d, o)
			}
		case !ok:
			// The error is at data[end]: everything before is fine.
			if end >= len(data) {
				t.Fatalf("malformed at %d of %d bytes", end, len(data))
			}
			var c ChunkScanner
			if n, d, o := c.Scan(data[:end]); n != end || d || !o {
				t.Fatalf("Scan(%q) = %d %v %v, want a good prefix", data[:end], n, d, o)
			}
		default:
			if end != len(data) {
				t.Fatalf("not done, ok, but took %d of %d bytes", end, len(data))
			}
		}

		// Where net/http's chunked reader reads the chunks of a body up
		// to the last chunk, the scanner agrees and is then at its
		// trailer section. (net/http takes 16-digit sizes; the scanner
		// stops at 15.)
		rd := bytes.NewReader(data)
		br := bufio.NewReader(rd)
		if _, err := io.Copy(io.Discard, httputil.NewChunkedReader(br)); err != nil {
			return
		}
		chunks := len(data) - rd.Len() - br.Buffered()
		if hexRun(data[:chunks], 16) {
			return
		}
		var c ChunkScanner
		if n, d, o := c.Scan(data[:chunks]); n != chunks || d || !o || c.state != csTrailerStart {
			t.Fatalf("net/http reads the chunks of %q; Scan = %d %v %v state %d", data[:chunks], n, d, o, c.state)
		}
	})
}
