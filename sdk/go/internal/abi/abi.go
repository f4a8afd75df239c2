// Package abi holds the Proxy-Wasm ABI 0.2.1 plumbing shared by the public
// proxywasm package and its fake host: the numeric enums, the wire formats of
// header maps and property paths, the Host interface through which every host
// call goes, and the Guest interface through which every callback arrives.
//
// On GOOS=wasip1 the default Host is the real set of env.proxy_* imports and
// the proxy_on_* exports forward to the registered Guest. On any other
// platform the default Host panics; proxywasmtest installs a fake one.
package abi

// Status is a Proxy-Wasm host call result.
type Status uint32

// Host call results defined by the ABI.
const (
	StatusOK              Status = 0
	StatusNotFound        Status = 1
	StatusBadArgument     Status = 2
	StatusSerialization   Status = 3
	StatusParseFailure    Status = 4
	StatusEmpty           Status = 7
	StatusCASMismatch     Status = 8
	StatusInternalFailure Status = 10
	StatusUnimplemented   Status = 12
)

// MapType selects a header map.
type MapType uint32

// Header maps defined by the ABI.
const (
	MapRequestHeaders       MapType = 0
	MapRequestTrailers      MapType = 1
	MapResponseHeaders      MapType = 2
	MapResponseTrailers     MapType = 3
	MapHTTPCallResponseHead MapType = 6
	MapHTTPCallResponseTrlr MapType = 7
)

// BufferType selects a byte buffer.
type BufferType uint32

// Buffers defined by the ABI.
const (
	BufferRequestBody      BufferType = 0
	BufferResponseBody     BufferType = 1
	BufferHTTPCallResponse BufferType = 4
	BufferVMConfiguration  BufferType = 6
	BufferPluginConfig     BufferType = 7
)

// StreamType selects the direction of an HTTP stream.
type StreamType uint32

// Stream directions defined by the ABI.
const (
	StreamRequest  StreamType = 0
	StreamResponse StreamType = 1
)

// MetricType is the kind of a metric.
type MetricType uint32

// Metric kinds defined by the ABI.
const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)

// Actions returned by HTTP callbacks.
const (
	ActionContinue uint32 = 0
	ActionPause    uint32 = 1
)

// MaxSize is the "whole buffer" size used by buffer calls.
const MaxSize = 1<<31 - 1

// Host is every host call the SDK makes, with Go types instead of raw
// pointer/length pairs. Byte slices and strings passed in are only valid
// during the call: an implementation that keeps them must copy them.
//
// Results: byte slices and strings returned are owned by the caller unless
// the call took transient=true, in which case they may alias a buffer that
// the next transient call reuses.
type Host interface {
	Log(level uint32, msg string) Status
	SetTickPeriod(ms uint32) Status
	SetEffectiveContext(id uint32) Status
	Done() Status

	GetBuffer(t BufferType, start, max int, transient bool) ([]byte, Status)
	SetBuffer(t BufferType, start, size int, data []byte) Status

	GetMapValue(t MapType, key string) (string, Status)
	GetMapPairs(t MapType) ([]byte, Status)
	SetMapPairs(t MapType, encoded []byte) Status
	AddMapValue(t MapType, key, value string) Status
	ReplaceMapValue(t MapType, key, value string) Status
	RemoveMapValue(t MapType, key string) Status

	ContinueStream(t StreamType) Status
	CloseStream(t StreamType) Status
	SendLocalResponse(status uint32, details string, body, encodedHeaders []byte, grpcStatus int32) Status
	HTTPCall(upstream string, encodedHeaders, body, encodedTrailers []byte, timeoutMS uint32) (uint32, Status)

	GetProperty(encodedPath []byte) ([]byte, Status)
	SetProperty(encodedPath, value []byte) Status

	GetSharedData(key string) ([]byte, uint32, Status)
	SetSharedData(key string, value []byte, cas uint32) Status

	RegisterQueue(name string) (uint32, Status)
	ResolveQueue(vmID, name string) (uint32, Status)
	Enqueue(id uint32, data []byte) Status
	Dequeue(id uint32) ([]byte, Status)

	DefineMetric(t MetricType, name string) (uint32, Status)
	IncrementMetric(id uint32, delta int64) Status
	RecordMetric(id uint32, value uint64) Status
	GetMetric(id uint32) (uint64, Status)

	CallForeignFunction(name string, param []byte) ([]byte, Status)
}

// Guest receives the proxy_on_* callbacks. Actions are ActionContinue or
// ActionPause.
type Guest interface {
	OnContextCreate(id, parent uint32)
	OnVMStart(root uint32, size int) bool
	OnConfigure(root uint32, size int) bool
	OnTick(root uint32)
	OnQueueReady(root, queue uint32)
	OnRequestHeaders(id uint32, n int, endOfStream bool) uint32
	OnRequestBody(id uint32, size int, endOfStream bool) uint32
	OnRequestTrailers(id uint32, n int) uint32
	OnResponseHeaders(id uint32, n int, endOfStream bool) uint32
	OnResponseBody(id uint32, size int, endOfStream bool) uint32
	OnResponseTrailers(id uint32, n int) uint32
	OnHTTPCallResponse(id, token uint32, headers, bodySize, trailers int)
	OnDone(id uint32) bool
	OnLog(id uint32)
	OnDelete(id uint32)
}

var (
	current Host = defaultHost
	guest   Guest
)

// CurrentHost returns the Host that host calls go to.
func CurrentHost() Host { return current }

// SetHost replaces the Host (nil restores the platform default) and returns
// the previous one.
func SetHost(h Host) Host {
	prev := current
	if h == nil {
		h = defaultHost
	}
	current = h
	return prev
}

// CurrentGuest returns the registered Guest, or nil.
func CurrentGuest() Guest { return guest }

// SetGuest registers the Guest that receives callbacks.
func SetGuest(g Guest) { guest = g }
