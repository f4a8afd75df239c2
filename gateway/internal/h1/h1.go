// Package h1 reads and rewrites HTTP/1.1 message heads for the gateway's
// plain path: the event loop that proxies requests without a body when a
// listener has no chain (see gateway/plain_linux.go).
//
// The parsers are deliberately narrow. A request head is either one the
// plain path forwards exactly as the general path would, or it is handed
// to the general path (fasthttp) untouched, which answers every malformed or
// unusual request the way it always does. So the request parser rejects
// much that is valid HTTP: bodies, upgrades, Expect, HTTP/1.0, absolute
// targets, folded lines, repeated fields it would have to merge.
//
// Nothing here allocates; slices returned point into the caller's buffer
// and live as long as it does.
package h1

import (
	"bytes"
	"net/netip"
)

// Result is what parsing a head found.
type Result uint8

const (
	// Incomplete means the head has not ended yet: read more.
	Incomplete Result = iota
	// OK means a complete head the plain path can forward.
	OK
	// HandOff means the general path must serve the message: it is
	// malformed, has a body, or uses a feature the plain path leaves to it.
	HandOff
)

// Field classes, as bits.
const (
	fieldConnection = 1 << iota
	fieldHop        // another hop-by-hop field: dropped
	fieldXFF
	fieldVia
	fieldXFP
	fieldHost
	fieldContentLength
	fieldTransferEncoding
	fieldExpect
	fieldUpgrade
	fieldKeepAlive
	fieldDate
)

// The classes that callers outside the package test for.
const (
	// FieldConnection is the Connection field.
	FieldConnection = fieldConnection
	// FieldHopByHop is any other hop-by-hop field: Keep-Alive,
	// Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE,
	// Trailer and Upgrade.
	FieldHopByHop = fieldHop | fieldUpgrade | fieldKeepAlive
	// FieldXFF is X-Forwarded-For.
	FieldXFF = fieldXFF
	// FieldVia is Via.
	FieldVia = fieldVia
)

// Classify returns the class bits of the field name, case-insensitively;
// 0 for a field the package gives no class.
func Classify(name []byte) int {
	switch len(name) {
	case 2:
		if EqualFold(name, "te") {
			return fieldHop
		}
	case 3:
		if EqualFold(name, "via") {
			return fieldVia
		}
	case 4:
		if EqualFold(name, "host") {
			return fieldHost
		}
		if EqualFold(name, "date") {
			return fieldDate
		}
	case 6:
		if EqualFold(name, "expect") {
			return fieldExpect
		}
	case 7:
		if EqualFold(name, "trailer") {
			return fieldHop
		}
		if EqualFold(name, "upgrade") {
			return fieldUpgrade
		}
	case 10:
		if EqualFold(name, "connection") {
			return fieldConnection
		}
		if EqualFold(name, "keep-alive") {
			return fieldKeepAlive
		}
	case 14:
		if EqualFold(name, "content-length") {
			return fieldContentLength
		}
	case 15:
		if EqualFold(name, "x-forwarded-for") {
			return fieldXFF
		}
	case 16, 18, 19:
		if EqualFold(name, "proxy-connection") || EqualFold(name, "proxy-authenticate") || EqualFold(name, "proxy-authorization") {
			return fieldHop
		}
	case 17:
		if EqualFold(name, "x-forwarded-proto") {
			return fieldXFP
		}
		if EqualFold(name, "transfer-encoding") {
			return fieldTransferEncoding
		}
	}
	return 0
}

// EqualFold reports whether b and s are equal ignoring ASCII case.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c1, c2 := b[i], s[i]
		if 'A' <= c1 && c1 <= 'Z' {
			c1 += 'a' - 'A'
		}
		if 'A' <= c2 && c2 <= 'Z' {
			c2 += 'a' - 'A'
		}
		if c1 != c2 {
			return false
		}
	}
	return true
}

// tchar reports whether c may appear in a token (RFC 9110 §5.6.2).
func tchar(c byte) bool {
	return tcharTable[c]
}

var tcharTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// maxFields bounds the header lines of a head the plain path takes.
const maxFields = 128

// line is one header line: name and value (trimmed) as offsets into the
// head, and its class.
type line struct {
	nameStart, nameEnd, valStart, valEnd uint16
	class                                uint16
}

// fields is the shared part of a parsed head: the header lines in order.
type fields struct {
	lines [maxFields]line
	n     int
	seen  int // field classes present
	dup   int // field classes present more than once
}

// parseFields reads header lines from b, which starts after the start
// line, up to and including the empty line. It returns the offset just
// past the head, 0 when the head has not ended, or -1 when the lines are
// malformed or not plain (folded lines, bare LF, too many lines).
func (f *fields) parseFields(b []byte, base int) int {
	f.n, f.seen, f.dup = 0, 0, 0
	i := 0
	for {
		if i >= len(b) {
			return 0
		}
		if b[i] == '\r' {
			if i+1 >= len(b) {
				return 0
			}
			if b[i+1] != '\n' {
				return -1
			}
			return i + 2
		}
		if f.n == maxFields {
			return -1
		}
		// name
		start := i
		for i < len(b) && tchar(b[i]) {
			i++
		}
		if i >= len(b) {
			return 0
		}
		if i == start || b[i] != ':' {
			return -1 // empty name, space before colon, folding, bare LF
		}
		nameEnd := i
		i++
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		valStart := i
		for i < len(b) && b[i] != '\r' && b[i] != '\n' {
			if b[i] < ' ' && b[i] != '\t' || b[i] == 0x7f {
				return -1 // NUL or another control (RFC 9110 §5.5)
			}
			i++
		}
		if i+1 >= len(b) {
			return 0
		}
		if b[i] != '\r' || b[i+1] != '\n' {
			return -1
		}
		valEnd := i
		for valEnd > valStart && (b[valEnd-1] == ' ' || b[valEnd-1] == '\t') {
			valEnd--
		}
		if base+i > 0xffff-2 {
			return -1
		}
		class := Classify(b[start:nameEnd])
		f.lines[f.n] = line{
			nameStart: uint16(base + start), nameEnd: uint16(base + nameEnd),
			valStart: uint16(base + valStart), valEnd: uint16(base + valEnd),
			class: uint16(class),
		}
		f.n++
		f.dup |= f.seen & class
		f.seen |= class
		i += 2
	}
}

// value returns the value of the last line of class.
func (f *fields) value(head []byte, class int) []byte {
	for i := f.n - 1; i >= 0; i-- {
		if int(f.lines[i].class) == class {
			return head[f.lines[i].valStart:f.lines[i].valEnd]
		}
	}
	return nil
}

// Request is a parsed request head. Reuse one per connection.
type Request struct {
	fields
	// Len is the length of the head, including the empty line.
	Len       int
	methodEnd int
	targetEnd int
	// Close is set when the client asked to close after the response.
	Close bool
	// Head is true for a HEAD request (its response has no body).
	Head bool
}

// Method returns the method of the request head that r describes.
func (r *Request) Method(head []byte) []byte { return head[:r.methodEnd] }

// Target returns the request target (origin-form) of head.
func (r *Request) Target(head []byte) []byte { return head[r.methodEnd+1 : r.targetEnd] }

// Host returns the Host field's value.
func (r *Request) Host(head []byte) []byte { return r.value(head, fieldHost) }

// ForwardedFor returns the X-Forwarded-For value the client sent, nil
// when it sent none.
func (r *Request) ForwardedFor(head []byte) []byte { return r.value(head, fieldXFF) }

// HasContentLength reports whether the request has a Content-Length. A request
// the plain path takes has none, or Content-Length: 0.
func (r *Request) HasContentLength() bool { return r.seen&fieldContentLength != 0 }

// Field returns the value of the first field named name (any case), nil
// when there is none. It scans the lines: for fields read once per
// request, such as those an access log records.
func (f *fields) Field(head []byte, name string) []byte {
	for i := range f.n {
		l := &f.lines[i]
		if EqualFold(head[l.nameStart:l.nameEnd], name) {
			return head[l.valStart:l.valEnd]
		}
	}
	return nil
}

// ParseRequest parses the request head at the start of b, which must be
// at most 64 KiB. On OK, r describes it and r.Len is its length.
func ParseRequest(b []byte, r *Request) Result {
	if len(b) > 0xffff {
		b = b[:0xffff]
	}
	// method SP origin-form SP HTTP/1.1 CRLF
	i := 0
	for i < len(b) && 'A' <= b[i] && b[i] <= 'Z' {
		i++
	}
	if i >= len(b) {
		return incomplete(b)
	}
	if i == 0 || b[i] != ' ' {
		return HandOff
	}
	r.methodEnd = i
	i++
	if i >= len(b) {
		return incomplete(b)
	}
	if b[i] != '/' {
		return HandOff // absolute-form, asterisk-form, or junk
	}
	for i < len(b) && b[i] > ' ' && b[i] < 0x7f {
		i++
	}
	if i >= len(b) {
		return incomplete(b)
	}
	if b[i] != ' ' {
		return HandOff
	}
	r.targetEnd = i
	i++
	const proto = "HTTP/1.1\r\n"
	for j := 0; j < len(proto); j++ {
		if i+j >= len(b) {
			return incomplete(b)
		}
		if b[i+j] != proto[j] {
			return HandOff
		}
	}
	i += len(proto)
	end := r.parseFields(b[i:], i)
	switch {
	case end == 0:
		return incomplete(b)
	case end < 0:
		return HandOff
	}
	r.Len = i + end
	head := b[:r.Len]
	const unplain = fieldTransferEncoding | fieldExpect | fieldUpgrade
	if r.seen&unplain != 0 {
		return HandOff
	}
	// Exactly one Host; at most one of the fields the rewrite would have
	// to merge.
	const single = fieldHost | fieldContentLength | fieldXFF | fieldVia | fieldConnection | fieldXFP
	if r.seen&fieldHost == 0 || r.dup&single != 0 {
		return HandOff
	}
	// Only an explicit empty body.
	if r.seen&fieldContentLength != 0 && string(r.value(head, fieldContentLength)) != "0" {
		return HandOff
	}
	r.Close = false
	if r.seen&fieldConnection != 0 {
		v := r.value(head, fieldConnection)
		ok := true
		ForEachToken(v, func(tok []byte) {
			switch {
			case EqualFold(tok, "close"):
				r.Close = true
			case EqualFold(tok, "keep-alive"):
			default:
				ok = false // names fields to drop: the general path does it
			}
		})
		if !ok {
			return HandOff
		}
	}
	r.Head = string(b[:r.methodEnd]) == "HEAD"
	return OK
}

// incomplete is Incomplete while b, all of which is a head that has not
// ended, may still grow into a plain head.
func incomplete(b []byte) Result {
	if len(b) >= 0xffff {
		return HandOff
	}
	return Incomplete
}

// ForEachToken calls fn with each non-empty comma-separated token of v,
// trimmed of spaces.
func ForEachToken(v []byte, fn func(tok []byte)) {
	for len(v) > 0 {
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		tok = bytes.Trim(tok, " \t")
		if len(tok) > 0 {
			fn(tok)
		}
	}
}

// AppendUpstream appends the head to send upstream for the request head
// that r describes: the start line as received, the fields less the
// hop-by-hop ones, X-Forwarded-For with client appended, X-Forwarded-Proto
// set to scheme, and via appended to Via. It is what the general path
// sends for the same request, up to field order and case.
func AppendUpstream(dst, head []byte, r *Request, client netip.Addr, scheme, via string) []byte {
	dst = append(dst, head[:r.targetEnd]...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	var xff, priorVia []byte
	for i := range r.n {
		l := &r.lines[i]
		switch int(l.class) {
		case fieldConnection, fieldHop, fieldKeepAlive, fieldXFP:
			continue
		case fieldXFF:
			xff = head[l.valStart:l.valEnd]
			continue
		case fieldVia:
			priorVia = head[l.valStart:l.valEnd]
			continue
		}
		dst = append(dst, head[l.nameStart:l.nameEnd]...)
		dst = append(dst, ": "...)
		dst = append(dst, head[l.valStart:l.valEnd]...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "X-Forwarded-For: "...)
	dst = AppendForwardedFor(dst, xff, client)
	dst = append(dst, "\r\nX-Forwarded-Proto: "...)
	dst = append(dst, scheme...)
	dst = append(dst, "\r\nVia: "...)
	dst = AppendVia(dst, priorVia, via)
	dst = append(dst, "\r\n\r\n"...)
	return dst
}

// AppendForwardedFor appends the X-Forwarded-For value a proxy sends on:
// the value it received (prior, if any), then client.
func AppendForwardedFor(dst, prior []byte, client netip.Addr) []byte {
	return client.AppendTo(appendPrior(dst, prior))
}

// AppendVia appends the Via value a proxy sends on: the value it received
// (prior, if any), then its own entry via.
func AppendVia(dst, prior []byte, via string) []byte {
	return append(appendPrior(dst, prior), via...)
}

// appendPrior appends a list field's received value and the separator
// before the next member; nothing when there was none.
func appendPrior(dst, prior []byte) []byte {
	if len(prior) == 0 {
		return dst
	}
	return append(append(dst, prior...), ", "...)
}

// Framing is how a response body is delimited.
type Framing uint8

const (
	// NoBody: the response has no body (HEAD, 204, 304).
	NoBody Framing = iota
	// Length: Content-Length bytes follow.
	Length
	// Chunked: the chunked coding, scanned with a Chunked.
	Chunked
	// UntilClose: the body ends when the upstream closes.
	UntilClose
)

// Response is a parsed response head. Reuse one per connection.
type Response struct {
	fields
	Len    int
	Status int
	// Framing and, for Length, ContentLength delimit the body.
	Framing       Framing
	ContentLength int64
	// Close: the upstream will close the connection after this response.
	Close bool
	// KeepAlive is the Keep-Alive field's value, nil when absent.
	KeepAlive []byte
	dropNames [4][]byte // fields the Connection field names
	nDrop     int
	statusEnd int
}

// ParseResponse parses the response head at the start of b (at most
// 64 KiB) for a request whose method was HEAD when head is set. HandOff
// here means the head is malformed: the client gets a 502.
func ParseResponse(b []byte, head bool, r *Response) Result {
	if len(b) > 0xffff {
		b = b[:0xffff]
	}
	const proto = "HTTP/1."
	for j := 0; j < len(proto); j++ {
		if j >= len(b) {
			return Incomplete
		}
		if b[j] != proto[j] {
			return HandOff
		}
	}
	if len(b) < 13 {
		return Incomplete
	}
	if (b[7] != '0' && b[7] != '1') || b[8] != ' ' {
		return HandOff
	}
	status := 0
	for _, c := range b[9:12] {
		if c < '0' || c > '9' {
			return HandOff
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return HandOff
	}
	i := 12
	if b[i] != ' ' && b[i] != '\r' {
		return HandOff
	}
	for i < len(b) && b[i] != '\r' && b[i] != '\n' {
		if b[i] < ' ' && b[i] != '\t' || b[i] == 0x7f {
			return HandOff
		}
		i++
	}
	if i+1 >= len(b) {
		return incomplete(b)
	}
	if b[i] != '\r' || b[i+1] != '\n' {
		return HandOff
	}
	r.statusEnd = i
	i += 2
	end := r.parseFields(b[i:], i)
	switch {
	case end == 0:
		return incomplete(b)
	case end < 0:
		return HandOff
	}
	r.Len = i + end
	r.Status = status
	hb := b[:r.Len]
	http10 := b[7] == '0'
	r.KeepAlive = nil
	r.nDrop = 0
	closeTok, keepAliveTok := false, false
	cl := int64(-1)
	var te []byte
	for i := range r.n {
		l := &r.lines[i]
		v := hb[l.valStart:l.valEnd]
		switch int(l.class) {
		case fieldConnection:
			bad := false
			ForEachToken(v, func(tok []byte) {
				switch {
				case EqualFold(tok, "close"):
					closeTok = true
				case EqualFold(tok, "keep-alive"):
					keepAliveTok = true
				case r.nDrop == len(r.dropNames):
					bad = true
				default:
					r.dropNames[r.nDrop] = tok
					r.nDrop++
				}
			})
			if bad {
				return HandOff
			}
		case fieldKeepAlive:
			r.KeepAlive = v
		case fieldContentLength:
			// A Content-Length must be valid whatever the framing: one
			// that is not is never forwarded (RFC 9110 §8.6).
			n, ok := parseLength(v)
			if !ok || (cl >= 0 && n != cl) {
				return HandOff
			}
			cl = n
		case fieldTransferEncoding:
			te = v
		}
	}
	r.Close = closeTok || http10 && !keepAliveTok
	// Framing (RFC 9112 §6.3).
	switch {
	case head || status == 204 || status == 304 || status < 200:
		r.Framing = NoBody
	case r.seen&fieldTransferEncoding != 0:
		if r.seen&fieldContentLength != 0 || r.dup&fieldTransferEncoding != 0 {
			return HandOff
		}
		if http10 {
			r.Close = true // framing faulty: close after it (RFC 9112 §6.1)
		}
		last := te
		if i := bytes.LastIndexByte(te, ','); i >= 0 {
			last = bytes.Trim(te[i+1:], " \t")
		}
		if EqualFold(last, "chunked") {
			r.Framing = Chunked
		} else {
			r.Framing = UntilClose
			r.Close = true
		}
	case r.seen&fieldContentLength != 0:
		r.Framing, r.ContentLength = Length, cl
	default:
		r.Framing = UntilClose
		r.Close = true
	}
	return OK
}

// parseLength parses a Content-Length value.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// BodyLength is the body length the head declares: 0 when there is no
// body, -1 when the length is not known up front (chunked, until close).
func (r *Response) BodyLength() int64 {
	switch r.Framing {
	case NoBody:
		return 0
	case Length:
		return r.ContentLength
	}
	return -1
}

// HasDate reports whether the response head has a Date field.
func (r *Response) HasDate() bool { return r.seen&fieldDate != 0 }

// AppendClient appends the head to send the client for the response head
// that r describes: the status line as HTTP/1.1, the fields less the
// hop-by-hop ones (Transfer-Encoding stays: a chunked body passes through
// as it is), a Date when the upstream sent none, and Connection: close
// when closing is set.
func AppendClient(dst, head []byte, r *Response, date []byte, closing bool) []byte {
	dst = append(dst, "HTTP/1.1"...)
	dst = append(dst, head[8:r.statusEnd]...)
	dst = append(dst, "\r\n"...)
	for i := range r.n {
		l := &r.lines[i]
		switch int(l.class) {
		case fieldConnection, fieldHop, fieldKeepAlive, fieldUpgrade:
			continue
		}
		name := head[l.nameStart:l.nameEnd]
		// The body passes through framed as it is, so a Connection option
		// never removes a framing field (nor the Date HasDate reports).
		if r.nDrop > 0 && l.class&(fieldContentLength|fieldTransferEncoding|fieldDate) == 0 && r.dropped(name) {
			continue
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, head[l.valStart:l.valEnd]...)
		dst = append(dst, "\r\n"...)
	}
	if len(date) > 0 && !r.HasDate() {
		dst = append(dst, "Date: "...)
		dst = append(dst, date...)
		dst = append(dst, "\r\n"...)
	}
	if closing {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, "\r\n"...)
}

func (r *Response) dropped(name []byte) bool {
	for _, d := range r.dropNames[:r.nDrop] {
		if len(d) == len(name) && bytes.EqualFold(d, name) {
			return true
		}
	}
	return false
}

// ChunkScanner finds the end of a body in the chunked coding as its bytes
// pass through, without changing them. The zero value is ready.
type ChunkScanner struct {
	state  uint8
	digits uint8
	size   uint64
}

const (
	csSize uint8 = iota
	csExt
	csSizeLF
	csData
	csDataCR
	csDataLF
	csTrailerStart
	csTrailerLine
	csTrailerLF
	csEndLF
	csDone
)

// Scan consumes b. It returns how many bytes of b belong to the body
// (all of b unless the body ended inside it), whether the body ended, and
// false in ok when the coding is malformed.
func (c *ChunkScanner) Scan(b []byte) (n int, done, ok bool) {
	i := 0
	for i < len(b) {
		ch := b[i]
		switch c.state {
		case csSize:
			switch v := hexVal(ch); {
			case v >= 0:
				if c.digits == 15 {
					return i, false, false
				}
				c.size = c.size<<4 | uint64(v)
				c.digits++
			case c.digits == 0:
				return i, false, false
			case ch == ';' || ch == ' ' || ch == '\t':
				c.state = csExt
			case ch == '\r':
				c.state = csSizeLF
			default:
				return i, false, false
			}
		case csExt:
			switch ch {
			case '\r':
				c.state = csSizeLF
			case '\n':
				return i, false, false
			}
		case csSizeLF:
			if ch != '\n' {
				return i, false, false
			}
			if c.size == 0 {
				c.state = csTrailerStart
			} else {
				c.state = csData
			}
		case csData:
			take := uint64(len(b) - i)
			if take > c.size {
				take = c.size
			}
			c.size -= take
			i += int(take)
			if c.size == 0 {
				c.state = csDataCR
			}
			continue
		case csDataCR:
			if ch != '\r' {
				return i, false, false
			}
			c.state = csDataLF
		case csDataLF:
			if ch != '\n' {
				return i, false, false
			}
			c.state, c.digits = csSize, 0
		case csTrailerStart:
			switch ch {
			case '\r':
				c.state = csEndLF
			case '\n':
				return i, false, false
			default:
				c.state = csTrailerLine
			}
		case csTrailerLine:
			switch ch {
			case '\r':
				c.state = csTrailerLF
			case '\n':
				return i, false, false
			}
		case csTrailerLF:
			if ch != '\n' {
				return i, false, false
			}
			c.state = csTrailerStart
		case csEndLF:
			if ch != '\n' {
				return i, false, false
			}
			c.state = csDone
			return i + 1, true, true
		case csDone:
			return i, true, true
		}
		i++
	}
	return i, c.state == csDone, true
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
