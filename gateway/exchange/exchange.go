package exchange

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// Protocol names the protocol the client spoke.
type Protocol uint8

// Client protocols.
const (
	HTTP11 Protocol = iota + 1
	HTTP2
	HTTP3
)

// String returns the protocol as Envoy's request.protocol attribute spells it.
func (p Protocol) String() string {
	switch p {
	case HTTP11:
		return "HTTP/1.1"
	case HTTP2:
		return "HTTP/2"
	case HTTP3:
		return "HTTP/3"
	}
	return "unknown"
}

// Request is the client's request as the chain sees it. The HTTP/2-style
// pseudo-headers (:method, :scheme, :authority, :path) are the fields of the
// same names; Header holds only regular fields.
type Request struct {
	Method    []byte
	Scheme    []byte
	Authority []byte
	Path      []byte // path and query, as sent
	Protocol  Protocol
	Header    Header

	// ContentLength is the declared body length, -1 when unknown (chunked).
	ContentLength int64

	// Body is the whole request body when BodyBuffered; otherwise the body
	// streams past the chain and Body is nil. A front end buffers it (up to
	// the largest limit a stage of the chain asks for, such as a policy
	// with include_body) before running the chain; it may alias the front
	// end's memory and is valid only during the request. Stages read it.
	Body []byte
	// BodyBuffered reports whether Body holds the whole request body.
	BodyBuffered bool

	bodyDirty bool

	pseudoDirty bool

	// Trailer is the request's trailer section. HTTP/2 and HTTP/3 front
	// ends fill it when the body has been read to its end, and set
	// TrailerReceived when it has fields. ExpectTrailer says the client
	// announced trailers (a Trailer field), so the request does not end with
	// its body. Stages may change Trailer; what it holds when the body ends
	// is forwarded (to HTTP/2 upstreams; HTTP/1.1 upstreams get none).
	Trailer         Header
	ExpectTrailer   bool
	TrailerReceived bool
}

// SetMethod replaces the method.
func (r *Request) SetMethod(m string) { r.Method = append(r.Method[:0], m...); r.pseudoDirty = true }

// SetPath replaces the path and query.
func (r *Request) SetPath(p string) { r.Path = append(r.Path[:0], p...); r.pseudoDirty = true }

// SetAuthority replaces the authority (Host).
func (r *Request) SetAuthority(a string) {
	r.Authority = append(r.Authority[:0], a...)
	r.pseudoDirty = true
}

// SetScheme replaces the scheme.
func (r *Request) SetScheme(s string) { r.Scheme = append(r.Scheme[:0], s...); r.pseudoDirty = true }

// ReplaceBody replaces the (buffered) request body; the front end sends the
// new one upstream with its length. b is kept, not copied.
func (r *Request) ReplaceBody(b []byte) {
	r.Body = b
	r.BodyBuffered = true
	r.ContentLength = int64(len(b))
	r.bodyDirty = true
}

// BodyModified reports whether a stage replaced the request body.
func (r *Request) BodyModified() bool { return r.bodyDirty }

// Modified reports whether a stage changed the request line or headers.
func (r *Request) Modified() bool { return r.pseudoDirty || r.Header.Modified() }

// ClearModified clears the modified flags, after a front end filled r.
func (r *Request) ClearModified() { r.pseudoDirty = false; r.Header.ClearModified() }

// PathOnly returns the path without the query.
func (r *Request) PathOnly() []byte {
	for i, c := range r.Path {
		if c == '?' {
			return r.Path[:i]
		}
	}
	return r.Path
}

// Query returns the raw query without '?', or nil.
func (r *Request) Query() []byte {
	for i, c := range r.Path {
		if c == '?' {
			return r.Path[i+1:]
		}
	}
	return nil
}

func (r *Request) reset() {
	r.Method = r.Method[:0]
	r.Scheme = r.Scheme[:0]
	r.Authority = r.Authority[:0]
	r.Path = r.Path[:0]
	r.Protocol = 0
	r.Header.Reset()
	r.ContentLength = 0
	r.Body = nil
	r.BodyBuffered = false
	r.bodyDirty = false
	r.pseudoDirty = false
	r.Trailer.Reset()
	r.ExpectTrailer = false
	r.TrailerReceived = false
}

// Response is the response as the chain sees it: either the upstream's, or a
// local one a stage or the gateway produced.
type Response struct {
	Status int
	Header Header
	// Body holds a local response's body, or an upstream response's when
	// BodyBuffered (small responses, when a stage of the chain reads
	// bodies). Other upstream bodies stream past the chain.
	Body []byte
	// BodyBuffered reports whether Body holds the whole upstream body.
	BodyBuffered bool
	// Trailer is the upstream response's trailer section (an HTTP/2
	// upstream's, e.g. grpc-status). It arrives after the body has streamed
	// past the chain: the HTTP/2 and HTTP/3 front ends fill it, set
	// TrailerReceived and run the TrailerStages before they send it on.
	Trailer         Header
	TrailerReceived bool

	bodyDirty bool
}

// ReplaceBody replaces the response body; b is kept, not copied.
func (r *Response) ReplaceBody(b []byte) {
	r.Body = b
	r.BodyBuffered = true
	r.bodyDirty = true
}

// BodyModified reports whether a stage replaced the response body.
func (r *Response) BodyModified() bool { return r.bodyDirty }

func (r *Response) reset() {
	r.Status = 0
	r.Header.Reset()
	r.Body = r.Body[:0]
	r.BodyBuffered = false
	r.Trailer.Reset()
	r.TrailerReceived = false
	r.bodyDirty = false
}

// Exchange is one request and its response. It is valid only while the
// request is served, is pooled (Acquire/Release), and is not safe for
// concurrent use.
type Exchange struct {
	Request  Request
	Response Response

	// Source is the client's address; Destination the listener's.
	Source      netip.AddrPort
	Destination netip.AddrPort
	// TLS describes the client's TLS session; nil on plaintext
	// connections. It is shared by the connection's exchanges: read only.
	TLS *TLS
	// Listener is the name of the listener that accepted the request.
	Listener string
	// RequestID is unique per request within the process.
	RequestID uint64

	// Route and Upstream are what routing selected so far (names; "" when
	// none). The balancer forwards to Upstream, or to the listener default.
	Route    string
	Upstream string
	// Consumer is the authenticated consumer, set by an auth stage.
	Consumer string

	local    bool
	attrs    []attr
	idBuf    []byte
	slots    []slot
	trailers []TrailerStage
}

// TrailerStage is implemented by stages that handle trailers. Trailers
// come after the body, which usually streams past the chain once the
// stages' request (or response) handling returned, so a stage asks for
// them, per exchange, with WantTrailers while it handles the request.
//
// The front end calls OnRequestTrailers in the order the stages asked
// (chain order) once the request body has ended, if it had trailers, and
// OnResponseTrailers in reverse order once the response body has ended,
// if it had trailers; the methods may change Request.Trailer and
// Response.Trailer. They may be called on another goroutine than the
// one that ran the request (an upstream transport's, reading the request
// body), but never concurrently with the other handling of the exchange.
//
// An error aborts the exchange: when nothing of the response has been
// sent yet, the client gets the exchange's local response if the stage
// set one (Exchange.SendLocal), else the error's status (a Status() int
// method, as for chain stages; 500 by default); otherwise its stream is
// reset.
type TrailerStage interface {
	OnRequestTrailers(ctx context.Context, x *Exchange) error
	OnResponseTrailers(ctx context.Context, x *Exchange) error
}

// WantTrailers registers s to handle this exchange's trailers.
func (x *Exchange) WantTrailers(s TrailerStage) { x.trailers = append(x.trailers, s) }

// TrailerStages returns the stages that asked for this exchange's
// trailers, in the order they asked. The slice is valid until Reset.
func (x *Exchange) TrailerStages() []TrailerStage { return x.trailers }

type slot struct {
	key, val any
}

// Slot returns the per-exchange state a stage stored under key (usually the
// stage itself), or nil.
func (x *Exchange) Slot(key any) any {
	for i := range x.slots {
		if x.slots[i].key == key {
			return x.slots[i].val
		}
	}
	return nil
}

// SetSlot stores per-exchange state for a stage under key. Storing pointers
// allocates nothing once the exchange's slot storage has grown.
func (x *Exchange) SetSlot(key, val any) {
	for i := range x.slots {
		if x.slots[i].key == key {
			x.slots[i].val = val
			return
		}
	}
	x.slots = append(x.slots, slot{key, val})
}

type attr struct {
	key   string
	value []byte
}

// SendLocal makes the response a local one: the upstream is not called.
// Headers may be added to x.Response.Header after the call.
func (x *Exchange) SendLocal(status int, body []byte) {
	x.local = true
	x.Response.Status = status
	x.Response.Header.Reset()
	x.Response.Body = append(x.Response.Body[:0], body...)
	x.Response.Trailer.Reset()
	x.Response.TrailerReceived = false
}

// IsLocal reports whether the response is a local one.
func (x *Exchange) IsLocal() bool { return x.local }

// SetAttr stores a named per-exchange attribute (for example JWT claims as
// JSON), replacing any earlier value. The key and the value are copied.
func (x *Exchange) SetAttr(key string, value []byte) {
	for i := range x.attrs {
		if x.attrs[i].key == key {
			x.attrs[i].value = append(x.attrs[i].value[:0], value...)
			return
		}
	}
	// A pooled exchange keeps its attribute slots: reuse one, with its key
	// when it is the same name (the usual case, request after request) and
	// its value buffer. A new key is copied: callers may pass views of
	// memory they reuse (a WASM guest's, for one).
	if n := len(x.attrs); n < cap(x.attrs) {
		x.attrs = x.attrs[:n+1]
		a := &x.attrs[n]
		if a.key != key {
			a.key = strings.Clone(key)
		}
		a.value = append(a.value[:0], value...)
		return
	}
	x.attrs = append(x.attrs, attr{key: strings.Clone(key), value: append([]byte(nil), value...)})
}

// Attr returns a per-exchange attribute and whether it is set. The slice is
// valid until the attribute is next set or the exchange is released.
func (x *Exchange) Attr(key string) ([]byte, bool) {
	for i := range x.attrs {
		if x.attrs[i].key == key {
			return x.attrs[i].value, true
		}
	}
	return nil, false
}

// RequestIDString returns the request id in decimal, without allocating
// after the first call on a pooled exchange.
func (x *Exchange) RequestIDString() []byte {
	x.idBuf = strconv.AppendUint(x.idBuf[:0], x.RequestID, 10)
	return x.idBuf
}

// Reset clears x for reuse, keeping its storage.
func (x *Exchange) Reset() {
	x.Request.reset()
	x.Response.reset()
	x.Source = netip.AddrPort{}
	x.Destination = netip.AddrPort{}
	x.TLS = nil
	x.Listener = ""
	x.RequestID = 0
	x.Route = ""
	x.Upstream = ""
	x.Consumer = ""
	x.local = false
	x.attrs = x.attrs[:0]
	for i := range x.slots {
		x.slots[i] = slot{}
	}
	x.slots = x.slots[:0]
	clear(x.trailers)
	x.trailers = x.trailers[:0]
}

// Pool recycles exchanges. The zero value is ready to use.
type Pool struct{ p sync.Pool }

// Acquire returns an empty exchange.
func (p *Pool) Acquire() *Exchange {
	if v := p.p.Get(); v != nil {
		return v.(*Exchange)
	}
	return &Exchange{}
}

// Release resets x and returns it to the pool; x must not be used after.
func (p *Pool) Release(x *Exchange) {
	x.Reset()
	p.p.Put(x)
}
