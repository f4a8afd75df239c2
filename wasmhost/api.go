package wasmhost

import (
	"context"
	"time"
)

// MapType names a header map of a stream.
type MapType uint8

// Header maps of a stream, numbered as in the ABI.
const (
	RequestHeaders   MapType = 0
	RequestTrailers  MapType = 1
	ResponseHeaders  MapType = 2
	ResponseTrailers MapType = 3
)

// BodyKind names a buffered body of a stream, numbered as in the ABI.
type BodyKind uint8

// Bodies of a stream.
const (
	RequestBody  BodyKind = 0
	ResponseBody BodyKind = 1
)

// Action tells the embedder what to do after a callback.
type Action uint8

const (
	// ActionContinue: go on with the next stage.
	ActionContinue Action = iota
	// ActionStop: the plugin sent a local response through
	// Stream.SendLocalResponse; do not run the remaining request stages nor
	// the upstream.
	ActionStop
	// ActionReset: the plugin closed the stream (proxy_close_stream); abort
	// it without a response (HTTP/2 RST_STREAM, HTTP/1 close).
	ActionReset
	// ActionBuffer is only returned by the body callbacks when endOfStream
	// was false: keep buffering and call the same callback again when more
	// data arrived (Stream.Body then returns everything buffered so far).
	ActionBuffer
)

// String returns the action's name.
func (a Action) String() string {
	switch a {
	case ActionContinue:
		return "continue"
	case ActionStop:
		return "stop"
	case ActionReset:
		return "reset"
	case ActionBuffer:
		return "buffer"
	}
	return "unknown"
}

// HeaderMap is a case-insensitive, ordered, multi-valued header map,
// including HTTP/2-style pseudo-headers (":method", ":path", ":authority",
// ":scheme" on requests, ":status" on responses).
//
// The host always passes lower-case names. Strings passed to Get, Del, Add
// and Set may alias guest memory: they are valid only during the call, and
// a map that keeps them (Add, Set) must copy them. Maps that store headers
// in buffers of their own copy anyway, so the host does not allocate a copy
// per header change for them. Strings returned by Get and Range are copied by the host before
// the map is used again. A HeaderMap is used by one goroutine at a time.
type HeaderMap interface {
	// Get returns the first value of name.
	Get(name string) (value string, ok bool)
	// Len returns the number of (name, value) pairs.
	Len() int
	// Range calls fn for every pair in order until fn returns false.
	Range(fn func(name, value string) bool)
	// Add appends a pair.
	Add(name, value string)
	// Set replaces every value of name with value.
	Set(name, value string)
	// Del removes every value of name.
	Del(name string)
}

// LocalResponse is what a plugin asks the embedder to answer with
// (proxy_send_local_response). All fields are owned by the receiver.
type LocalResponse struct {
	Status  int
	Details string // free-form reason, for logs
	Body    []byte
	Headers [][2]string // lower-case names
	// GRPCStatus is the gRPC status to send in grpc-status, or -1 for none.
	GRPCStatus int32
}

// Stream is the embedder's view of one HTTP request/response exchange. It is
// handed to Plugin.NewHTTPContext and must stay valid until
// HTTPContext.Done returns. The host calls it from at most one goroutine at
// a time, and only while a callback of this stream runs or while the stream
// is paused (the goroutine that called the HTTPContext method is blocked).
type Stream interface {
	// HeaderMap returns one of the stream's header maps, or nil if it does not
	// exist (yet), e.g. response headers during the request phase.
	HeaderMap(t MapType) HeaderMap
	// Body returns the body buffered so far (nil if none). The host copies
	// from it before the stream is used again.
	Body(k BodyKind) []byte
	// SetBody replaces the buffered body; b is owned by the callee. It returns
	// an error when b exceeds the embedder's body limit.
	SetBody(k BodyKind, b []byte) error
	// Property returns the value of a property the host does not answer
	// itself (see "Properties" in the package documentation), encoded as the
	// ABI expects: strings as raw bytes, integers as 8-byte little-endian,
	// booleans as one byte, maps as serialized pairs. The path elements may
	// alias guest memory: valid only during the call.
	Property(path []string) ([]byte, bool)
	// SetProperty sets a property; path and value may alias guest memory and
	// must be copied if retained. It returns an error for read-only or
	// unknown properties.
	SetProperty(path []string, value []byte) error
	// SendLocalResponse records the response the embedder sends instead of
	// proxying (or instead of the upstream response during the response
	// phase). The HTTPContext method in progress then returns ActionStop.
	SendLocalResponse(r LocalResponse)
}

// CalloutRequest is an HTTP call a plugin dispatched (proxy_http_call). All
// fields are owned by the receiver.
type CalloutRequest struct {
	// Upstream is the name the plugin gave (Envoy's cluster name).
	Upstream string
	// Headers always contain ":method", ":path" and ":authority".
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
	// Timeout is the plugin's timeout; the context passed along has it as
	// its deadline already.
	Timeout time.Duration
}

// CalloutResponse is the answer to a CalloutRequest. Headers should contain
// ":status". The host owns it after the HTTPCallFunc returns.
type CalloutResponse struct {
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
}

// HTTPCallFunc performs a CalloutRequest. It runs on its own goroutine and
// may block until ctx is done. An error is reported to the plugin as a
// response with no headers, body or trailers, as other hosts do.
type HTTPCallFunc func(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error)
