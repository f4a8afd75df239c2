// Package proxywasm is wasmgate's guest SDK for Proxy-Wasm ABI 0.2.1: write an
// HTTP filter in standard Go (1.24 or later) and build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o filter.wasm .
//
// The module runs on any host that implements the ABI (wasmgate, Envoy,
// Istio, ...).
//
// # Plugging in
//
// A filter registers one factory for its root context from func init (a
// c-shared module never runs main; its _initialize export runs package
// initialisers only) and keeps an empty main:
//
//	func init() { proxywasm.SetRootContext(newRoot) }
//	func main() {}
//
// The host creates one root context per plugin configuration and calls
// OnVMStart and OnConfigure on it. For every HTTP request it asks the root
// context for an HTTPContext, passing a Stream handle through which the
// filter reads and changes that request and its response.
//
// # Contexts and threads
//
// A module instance is single-threaded: callbacks never run concurrently and
// the SDK holds no locks. Package-level functions (Property, logging, shared
// data, queues, metrics, SetTickPeriod, DispatchHTTPCall) act on behalf of
// the context whose callback is running. Stream, HeaderMap and Body methods
// always act on their own stream, even when called from another context's
// callback (an http_call response, a tick): the SDK switches the host's
// effective context when needed.
//
// # Lifetimes
//
//   - Strings returned by HeaderMap.Get and HeaderMap.All, and byte slices
//     returned by Body.Bytes, Property, SharedData, Queue.Dequeue and the
//     configuration passed to OnVMStart and OnConfigure are owned by the
//     caller and may be kept.
//   - Body.Peek returns a buffer that the SDK reuses: it is valid only until
//     the next Peek on any body; copy it (bytes.Clone) to keep it.
//   - Slices and strings passed to the SDK are only read during the call and
//     may be reused by the caller afterwards.
//   - A Stream is valid from NewHTTPContext until its OnLog has returned;
//     methods called later fail with an error from the host.
//   - An HTTPCallResponse is readable only during the callback that receives
//     it.
//
// # Testing
//
// Package proxywasmtest is a native fake host: a filter's logic runs under
// plain go test, without a WebAssembly runtime.
package proxywasm
