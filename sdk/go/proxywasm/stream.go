package proxywasm

import (
	"unsafe"

	"github.com/wasmgate/wasmgate/sdk/go/internal/abi"
)

// Stream is the handle of one HTTP request/response exchange. It is a small
// value: copy it freely, keep it in the HTTPContext.
type Stream struct{ id uint32 }

// ID returns the host's context id of the stream.
func (s Stream) ID() uint32 { return s.id }

// RequestHeaders returns the request header map (with HTTP/2 style
// pseudo-headers such as :method, :path, :authority, :scheme).
func (s Stream) RequestHeaders() HeaderMap { return HeaderMap{s.id, abi.MapRequestHeaders} }

// RequestTrailers returns the request trailer map.
func (s Stream) RequestTrailers() HeaderMap { return HeaderMap{s.id, abi.MapRequestTrailers} }

// ResponseHeaders returns the response header map (with :status).
func (s Stream) ResponseHeaders() HeaderMap { return HeaderMap{s.id, abi.MapResponseHeaders} }

// ResponseTrailers returns the response trailer map.
func (s Stream) ResponseTrailers() HeaderMap { return HeaderMap{s.id, abi.MapResponseTrailers} }

// RequestBody returns the buffered request body.
func (s Stream) RequestBody() Body { return Body{s.id, abi.BufferRequestBody} }

// ResponseBody returns the buffered response body.
func (s Stream) ResponseBody() Body { return Body{s.id, abi.BufferResponseBody} }

// SendLocalResponse answers the request from the filter: the upstream is not
// contacted (or its response is replaced). After it, the filter should
// return Pause from the running callback.
func (s Stream) SendLocalResponse(status int, body []byte, headers [][2]string) error {
	if err := ensure(s.id); err != nil {
		return err
	}
	enc := encodePairs(headers)
	return statusErr(host().SendLocalResponse(uint32(status), "", body, enc, -1))
}

// ContinueRequest resumes a request paused by a callback that returned Pause.
func (s Stream) ContinueRequest() error { return s.stream(abi.StreamRequest, false) }

// ContinueResponse resumes a paused response.
func (s Stream) ContinueResponse() error { return s.stream(abi.StreamResponse, false) }

// CloseRequest aborts the request side of the stream.
func (s Stream) CloseRequest() error { return s.stream(abi.StreamRequest, true) }

// CloseResponse aborts the response side of the stream.
func (s Stream) CloseResponse() error { return s.stream(abi.StreamResponse, true) }

func (s Stream) stream(t abi.StreamType, close bool) error {
	if err := ensure(s.id); err != nil {
		return err
	}
	if close {
		return statusErr(host().CloseStream(t))
	}
	return statusErr(host().ContinueStream(t))
}

// Property returns the value of a host property of this stream, such as
// Property("request", "path") or Property("source", "address"). The result is
// owned by the caller.
func (s Stream) Property(path ...string) ([]byte, error) {
	if err := ensure(s.id); err != nil {
		return nil, err
	}
	return getProperty(path)
}

// SetProperty sets a host property of this stream.
func (s Stream) SetProperty(path []string, value []byte) error {
	if err := ensure(s.id); err != nil {
		return err
	}
	return setProperty(path, value)
}

// AttributePrefix is the first path segment of wasmgate's own per-request
// properties.
const AttributePrefix = "wasmgate"

// Wasmgate attribute names, read and written with Stream.Attribute and
// Stream.SetAttribute (property paths "wasmgate.<name>").
const (
	AttributeUpstream = "upstream" // name of the selected upstream pool
	AttributeRoute    = "route"    // name of the matched route
	AttributeConsumer = "consumer" // authenticated consumer
)

// Attribute returns the wasmgate attribute name of this stream, i.e. the
// property ["wasmgate", name]. ErrNotFound means it is unset.
func (s Stream) Attribute(name string) (string, error) {
	b, err := s.Property(AttributePrefix, name)
	return abi.BytesToString(b), err
}

// SetAttribute sets the wasmgate attribute name of this stream, e.g. the
// routing filter's SetAttribute(AttributeUpstream, "api").
func (s Stream) SetAttribute(name, value string) error {
	return s.SetProperty([]string{AttributePrefix, name}, stringBytes(value))
}

// HeaderMap is a handle to one of a stream's header maps. Names are
// case-insensitive on wasmgate (hosts use lower case).
type HeaderMap struct {
	ctx  uint32
	kind abi.MapType
}

// Get returns the value of the header name (the first one if repeated) and
// whether it is present. The string is owned by the caller.
func (m HeaderMap) Get(name string) (string, bool) {
	if ensure(m.ctx) != nil {
		return "", false
	}
	v, st := host().GetMapValue(m.kind, name)
	return v, st == abi.StatusOK
}

// All returns every header in order, repeated names included. The strings
// are owned by the caller.
func (m HeaderMap) All() ([][2]string, error) {
	if err := ensure(m.ctx); err != nil {
		return nil, err
	}
	b, st := host().GetMapPairs(m.kind)
	if err := statusErr(st); err != nil {
		return nil, err
	}
	return abi.DecodePairs(b)
}

// Set replaces every value of name with value (adds it when absent).
func (m HeaderMap) Set(name, value string) error {
	if err := ensure(m.ctx); err != nil {
		return err
	}
	return statusErr(host().ReplaceMapValue(m.kind, name, value))
}

// Add appends a value for name, keeping existing ones.
func (m HeaderMap) Add(name, value string) error {
	if err := ensure(m.ctx); err != nil {
		return err
	}
	return statusErr(host().AddMapValue(m.kind, name, value))
}

// Remove deletes every value of name.
func (m HeaderMap) Remove(name string) error {
	if err := ensure(m.ctx); err != nil {
		return err
	}
	return statusErr(host().RemoveMapValue(m.kind, name))
}

// SetAll replaces the whole map with pairs.
func (m HeaderMap) SetAll(pairs [][2]string) error {
	if err := ensure(m.ctx); err != nil {
		return err
	}
	return statusErr(host().SetMapPairs(m.kind, encodePairs(pairs)))
}

// Body is a handle to a buffered body: a request or response body, or the
// body of an http_call response.
type Body struct {
	ctx  uint32
	kind abi.BufferType
}

// Bytes returns up to max bytes of the body starting at start. The result is
// owned by the caller. ErrNotFound or ErrEmpty mean there is no body.
func (b Body) Bytes(start, max int) ([]byte, error) { return b.get(start, max, false) }

// Peek is Bytes without an allocation: the result aliases a buffer the SDK
// reuses and is valid only until the next Peek.
func (b Body) Peek(start, max int) ([]byte, error) { return b.get(start, max, true) }

func (b Body) get(start, max int, transient bool) ([]byte, error) {
	if err := ensure(b.ctx); err != nil {
		return nil, err
	}
	data, st := host().GetBuffer(b.kind, start, max, transient)
	return data, statusErr(st)
}

// Set replaces size bytes of the body at start with data.
func (b Body) Set(start, size int, data []byte) error {
	if err := ensure(b.ctx); err != nil {
		return err
	}
	return statusErr(host().SetBuffer(b.kind, start, size, data))
}

// Replace replaces the whole body with data.
func (b Body) Replace(data []byte) error { return b.Set(0, abi.MaxSize, data) }

// Append adds data at the end of the body.
func (b Body) Append(data []byte) error { return b.Set(abi.MaxSize, 0, data) }

// Prepend adds data at the start of the body.
func (b Body) Prepend(data []byte) error { return b.Set(0, 0, data) }

// encBuf is reused for everything the SDK serialises for the host; the host
// copies it during the call.
var encBuf []byte

func encodePairs(pairs [][2]string) []byte {
	encBuf = abi.AppendPairs(encBuf[:0], pairs)
	return encBuf
}

func encodePath(path []string) []byte {
	encBuf = abi.AppendPath(encBuf[:0], path)
	return encBuf
}

// stringBytes views s as bytes for a host call that only reads them.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
