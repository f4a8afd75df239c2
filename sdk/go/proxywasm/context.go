package proxywasm

// RootContext is a plugin instance: it receives the configuration, timers,
// queue notifications, and creates one HTTPContext per request.
// Embed DefaultRootContext to implement only what is needed.
type RootContext interface {
	// OnVMStart is called once per VM with the VM configuration; return
	// false to fail the start.
	OnVMStart(vmConfig []byte) bool
	// OnConfigure is called with the plugin configuration (for wasmgate, the
	// filter's config block as JSON); return false to reject it.
	OnConfigure(pluginConfig []byte) bool
	// OnTick is called every period set with SetTickPeriod.
	OnTick()
	// OnQueueReady is called when data was enqueued on a queue this plugin
	// registered.
	OnQueueReady(q Queue)
	// OnDone is called when the host shuts the plugin down; return false to
	// finish asynchronously and call Done later.
	OnDone() bool
	// NewHTTPContext returns the context for a new HTTP request, or nil to
	// let the request pass untouched.
	NewHTTPContext(s Stream) HTTPContext
}

// HTTPContext handles one HTTP request and its response. Callbacks return
// Continue or Pause. Embed DefaultHTTPContext to implement only what is
// needed.
type HTTPContext interface {
	// OnRequestHeaders is called with the number of request headers;
	// endOfStream is true when the request has no body.
	OnRequestHeaders(numHeaders int, endOfStream bool) Action
	// OnRequestBody is called with the size of the buffered request body.
	OnRequestBody(bodySize int, endOfStream bool) Action
	// OnRequestTrailers is called with the number of request trailers.
	OnRequestTrailers(numTrailers int) Action
	// OnResponseHeaders is called with the number of response headers.
	OnResponseHeaders(numHeaders int, endOfStream bool) Action
	// OnResponseBody is called with the size of the buffered response body.
	OnResponseBody(bodySize int, endOfStream bool) Action
	// OnResponseTrailers is called with the number of response trailers.
	OnResponseTrailers(numTrailers int) Action
	// OnLog is called once when the stream is complete, before it is deleted;
	// headers and properties are still readable (access logs, metrics).
	OnLog()
}

// HTTPCallback is a set of HTTPContext callbacks, for
// HTTPCallbackDeclarer.
type HTTPCallback uint32

// The HTTPContext callbacks a root context can declare. CallLog stands for
// OnLog (proxy_on_done and proxy_on_log).
const (
	CallRequestHeaders HTTPCallback = 1 << iota
	CallRequestBody
	CallRequestTrailers
	CallResponseHeaders
	CallResponseBody
	CallResponseTrailers
	CallLog
)

// HTTPCallbackDeclarer is implemented by a RootContext whose HTTP contexts
// act on some callbacks only. After a successful OnConfigure the SDK tells
// the host, through the property wasmgate.http_callbacks, and wasmgate then
// skips the other callbacks (OnDelete still comes): a callback into a Go
// guest costs a few hundred nanoseconds even when it does nothing. Other
// hosts store the property and make every callback, so the filter must
// still be correct when the undeclared ones come (DefaultHTTPContext's
// methods are).
type HTTPCallbackDeclarer interface {
	HTTPCallbacks() HTTPCallback
}

// HTTPContextDeleter is implemented by an HTTPContext that wants to know
// when the host deletes it (proxy_on_delete, the last callback of every
// context, made even when OnLog is not): after OnDelete the SDK never
// touches the context again, so the filter may reuse it for a later
// request.
type HTTPContextDeleter interface {
	OnDelete()
}

// DefaultRootContext is a RootContext that accepts any configuration and
// creates no HTTP contexts.
type DefaultRootContext struct{}

// OnVMStart returns true.
func (DefaultRootContext) OnVMStart([]byte) bool { return true }

// OnConfigure returns true.
func (DefaultRootContext) OnConfigure([]byte) bool { return true }

// OnTick does nothing.
func (DefaultRootContext) OnTick() {}

// OnQueueReady does nothing.
func (DefaultRootContext) OnQueueReady(Queue) {}

// OnDone returns true.
func (DefaultRootContext) OnDone() bool { return true }

// NewHTTPContext returns nil.
func (DefaultRootContext) NewHTTPContext(Stream) HTTPContext { return nil }

// DefaultHTTPContext is an HTTPContext that continues everything.
type DefaultHTTPContext struct{}

// OnRequestHeaders returns Continue.
func (DefaultHTTPContext) OnRequestHeaders(int, bool) Action { return Continue }

// OnRequestBody returns Continue.
func (DefaultHTTPContext) OnRequestBody(int, bool) Action { return Continue }

// OnRequestTrailers returns Continue.
func (DefaultHTTPContext) OnRequestTrailers(int) Action { return Continue }

// OnResponseHeaders returns Continue.
func (DefaultHTTPContext) OnResponseHeaders(int, bool) Action { return Continue }

// OnResponseBody returns Continue.
func (DefaultHTTPContext) OnResponseBody(int, bool) Action { return Continue }

// OnResponseTrailers returns Continue.
func (DefaultHTTPContext) OnResponseTrailers(int) Action { return Continue }

// OnLog does nothing.
func (DefaultHTTPContext) OnLog() {}
