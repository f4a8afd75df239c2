//go:build wasip1

package proxywasm

// The proxy_on_* callbacks of Proxy-Wasm ABI 0.2.1 that HTTP filters need
// (L4 and gRPC callbacks are not exported). They call the dispatcher
// directly: the abi package's Guest interface is for the fake host of
// native tests.

// mustActive returns the dispatcher SetRootContext installed.
func mustActive() *dispatcher {
	if active == nil {
		panic("proxywasm: no root context: call proxywasm.SetRootContext from func init")
	}
	return active
}

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, parent uint32) { mustActive().OnContextCreate(id, parent) }

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(root uint32, size int32) bool { return mustActive().OnVMStart(root, int(size)) }

//go:wasmexport proxy_on_configure
func proxyOnConfigure(root uint32, size int32) bool {
	return mustActive().OnConfigure(root, int(size))
}

//go:wasmexport proxy_on_tick
func proxyOnTick(root uint32) { mustActive().OnTick(root) }

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(root, queue uint32) { mustActive().OnQueueReady(root, queue) }

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(id uint32, n int32, endOfStream bool) uint32 {
	return mustActive().OnRequestHeaders(id, int(n), endOfStream)
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(id uint32, size int32, endOfStream bool) uint32 {
	return mustActive().OnRequestBody(id, int(size), endOfStream)
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(id uint32, n int32) uint32 {
	return mustActive().OnRequestTrailers(id, int(n))
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id uint32, n int32, endOfStream bool) uint32 {
	return mustActive().OnResponseHeaders(id, int(n), endOfStream)
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(id uint32, size int32, endOfStream bool) uint32 {
	return mustActive().OnResponseBody(id, int(size), endOfStream)
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(id uint32, n int32) uint32 {
	return mustActive().OnResponseTrailers(id, int(n))
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(id, token uint32, headers, bodySize, trailers int32) {
	mustActive().OnHTTPCallResponse(id, token, int(headers), int(bodySize), int(trailers))
}

//go:wasmexport proxy_on_done
func proxyOnDone(id uint32) bool { return mustActive().OnDone(id) }

//go:wasmexport proxy_on_log
func proxyOnLog(id uint32) { mustActive().OnLog(id) }

//go:wasmexport proxy_on_delete
func proxyOnDelete(id uint32) { mustActive().OnDelete(id) }
