//go:build wasip1

package abi

// The proxy_on_* exports of Proxy-Wasm ABI 0.2.1. Every one is exported so a
// host can drive HTTP filters; L4 (network) and gRPC callbacks are not.

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion021() {}

// scratch is lent to the host for results the SDK documents as transient
// (valid until the next such call), so hot paths such as body reads do not
// allocate. lendScratch is set only for the duration of one host call.
var (
	scratch     []byte
	lendScratch bool
	zeroByte    [1]byte
)

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) *byte {
	if size == 0 {
		return &zeroByte[0]
	}
	if lendScratch {
		lendScratch = false // at most one result per host call
		if uint32(cap(scratch)) < size {
			scratch = make([]byte, size)
		}
		return &scratch[:size][0]
	}
	b := make([]byte, size)
	return &b[0]
}

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, parent uint32) { mustGuest().OnContextCreate(id, parent) }

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(root uint32, size int32) bool { return mustGuest().OnVMStart(root, int(size)) }

//go:wasmexport proxy_on_configure
func proxyOnConfigure(root uint32, size int32) bool {
	return mustGuest().OnConfigure(root, int(size))
}

//go:wasmexport proxy_on_tick
func proxyOnTick(root uint32) { mustGuest().OnTick(root) }

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(root, queue uint32) { mustGuest().OnQueueReady(root, queue) }

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(id uint32, n int32, endOfStream bool) uint32 {
	return mustGuest().OnRequestHeaders(id, int(n), endOfStream)
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(id uint32, size int32, endOfStream bool) uint32 {
	return mustGuest().OnRequestBody(id, int(size), endOfStream)
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(id uint32, n int32) uint32 {
	return mustGuest().OnRequestTrailers(id, int(n))
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id uint32, n int32, endOfStream bool) uint32 {
	return mustGuest().OnResponseHeaders(id, int(n), endOfStream)
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(id uint32, size int32, endOfStream bool) uint32 {
	return mustGuest().OnResponseBody(id, int(size), endOfStream)
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(id uint32, n int32) uint32 {
	return mustGuest().OnResponseTrailers(id, int(n))
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(id, token uint32, headers, bodySize, trailers int32) {
	mustGuest().OnHTTPCallResponse(id, token, int(headers), int(bodySize), int(trailers))
}

//go:wasmexport proxy_on_done
func proxyOnDone(id uint32) bool { return mustGuest().OnDone(id) }

//go:wasmexport proxy_on_log
func proxyOnLog(id uint32) { mustGuest().OnLog(id) }

//go:wasmexport proxy_on_delete
func proxyOnDelete(id uint32) { mustGuest().OnDelete(id) }
