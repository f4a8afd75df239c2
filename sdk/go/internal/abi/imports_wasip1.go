//go:build wasip1

package abi

import "unsafe"

// The env.proxy_* imports of Proxy-Wasm ABI 0.2.1. Results that the host
// allocates come back through a pointer to a pointer and a pointer to a size;
// the host obtains the memory from proxy_on_memory_allocate.

//go:wasmimport env proxy_log
//go:noescape
func proxyLog(level uint32, msg *byte, msgLen int32) Status

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriodMilliseconds(ms uint32) Status

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) Status

//go:wasmimport env proxy_done
func proxyDone() Status

//go:wasmimport env proxy_get_buffer_bytes
//go:noescape
func proxyGetBufferBytes(t BufferType, start, max int32, retPtr unsafe.Pointer, retLen *int32) Status

//go:wasmimport env proxy_set_buffer_bytes
//go:noescape
func proxySetBufferBytes(t BufferType, start, size int32, data *byte, dataLen int32) Status

//go:wasmimport env proxy_get_header_map_value
//go:noescape
func proxyGetHeaderMapValue(t MapType, key *byte, keyLen int32, retPtr unsafe.Pointer, retLen *int32) Status

//go:wasmimport env proxy_get_header_map_pairs
//go:noescape
func proxyGetHeaderMapPairs(t MapType, retPtr unsafe.Pointer, retLen *int32) Status

//go:wasmimport env proxy_set_header_map_pairs
//go:noescape
func proxySetHeaderMapPairs(t MapType, data *byte, dataLen int32) Status

//go:wasmimport env proxy_add_header_map_value
//go:noescape
func proxyAddHeaderMapValue(t MapType, key *byte, keyLen int32, value *byte, valueLen int32) Status

//go:wasmimport env proxy_replace_header_map_value
//go:noescape
func proxyReplaceHeaderMapValue(t MapType, key *byte, keyLen int32, value *byte, valueLen int32) Status

//go:wasmimport env proxy_remove_header_map_value
//go:noescape
func proxyRemoveHeaderMapValue(t MapType, key *byte, keyLen int32) Status

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(t StreamType) Status

//go:wasmimport env proxy_close_stream
func proxyCloseStream(t StreamType) Status

//go:wasmimport env proxy_send_local_response
//go:noescape
func proxySendLocalResponse(status uint32, details *byte, detailsLen int32, body *byte, bodyLen int32,
	headers *byte, headersLen int32, grpcStatus int32) Status

//go:wasmimport env proxy_http_call
//go:noescape
func proxyHTTPCall(upstream *byte, upstreamLen int32, headers *byte, headersLen int32, body *byte, bodyLen int32,
	trailers *byte, trailersLen int32, timeoutMS uint32, retToken *uint32) Status

//go:wasmimport env proxy_get_property
//go:noescape
func proxyGetProperty(path *byte, pathLen int32, retPtr unsafe.Pointer, retLen *int32) Status

//go:wasmimport env proxy_set_property
//go:noescape
func proxySetProperty(path *byte, pathLen int32, value *byte, valueLen int32) Status

//go:wasmimport env proxy_get_shared_data
//go:noescape
func proxyGetSharedData(key *byte, keyLen int32, retPtr unsafe.Pointer, retLen *int32, retCAS *uint32) Status

//go:wasmimport env proxy_set_shared_data
//go:noescape
func proxySetSharedData(key *byte, keyLen int32, value *byte, valueLen int32, cas uint32) Status

//go:wasmimport env proxy_register_shared_queue
//go:noescape
func proxyRegisterSharedQueue(name *byte, nameLen int32, retID *uint32) Status

//go:wasmimport env proxy_resolve_shared_queue
//go:noescape
func proxyResolveSharedQueue(vmID *byte, vmIDLen int32, name *byte, nameLen int32, retID *uint32) Status

//go:wasmimport env proxy_enqueue_shared_queue
//go:noescape
func proxyEnqueueSharedQueue(id uint32, data *byte, dataLen int32) Status

//go:wasmimport env proxy_dequeue_shared_queue
//go:noescape
func proxyDequeueSharedQueue(id uint32, retPtr unsafe.Pointer, retLen *int32) Status

//go:wasmimport env proxy_define_metric
//go:noescape
func proxyDefineMetric(t MetricType, name *byte, nameLen int32, retID *uint32) Status

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, delta int64) Status

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(id uint32, value uint64) Status

//go:wasmimport env proxy_get_metric
//go:noescape
func proxyGetMetric(id uint32, retValue *uint64) Status

//go:wasmimport env proxy_call_foreign_function
//go:noescape
func proxyCallForeignFunction(name *byte, nameLen int32, param *byte, paramLen int32, retPtr unsafe.Pointer, retLen *int32) Status

// defaultHost on wasip1 is the real host behind the imports.
var defaultHost Host = WasmHost{}

// WasmHost calls the real host's imports. The proxywasm package calls it
// directly (not through the Host interface) in Wasm builds: a static call
// is inlined, where an interface call costs two Go calls per host call,
// and Go calls are dear in a Wasm guest.
type WasmHost struct{}

func sp(s string) (*byte, int32) { return unsafe.StringData(s), int32(len(s)) }

func bp(b []byte) (*byte, int32) {
	if len(b) == 0 {
		return nil, 0
	}
	return &b[0], int32(len(b))
}

// owned turns a host-written result into a slice the caller owns: the
// memory the host allocated for it, or a copy of retBuf.
func owned(p *byte, n int32) []byte {
	if p == nil || n <= 0 {
		return nil
	}
	if inRetBuf(p) {
		return append([]byte(nil), unsafe.Slice(p, n)...)
	}
	return unsafe.Slice(p, n)
}

func (WasmHost) Log(level uint32, msg string) Status {
	p, n := sp(msg)
	return proxyLog(level, p, n)
}

func (WasmHost) SetTickPeriod(ms uint32) Status       { return proxySetTickPeriodMilliseconds(ms) }
func (WasmHost) SetEffectiveContext(id uint32) Status { return proxySetEffectiveContext(id) }
func (WasmHost) Done() Status                         { return proxyDone() }

func (WasmHost) GetBuffer(t BufferType, start, max int, transient bool) ([]byte, Status) {
	var p *byte
	var n int32
	lendScratch = transient
	st := proxyGetBufferBytes(t, int32(start), int32(max), unsafe.Pointer(&p), &n)
	lendScratch = false
	if transient && p != nil && n > 0 && inRetBuf(p) {
		// The result lives until the next host call; scratch lives until
		// the next transient read, as documented.
		if cap(scratch) < int(n) {
			scratch = make([]byte, n)
		}
		return append(scratch[:0], unsafe.Slice(p, n)...), st
	}
	return owned(p, n), st
}

func (WasmHost) SetBuffer(t BufferType, start, size int, data []byte) Status {
	p, n := bp(data)
	return proxySetBufferBytes(t, int32(start), int32(size), p, n)
}

func (WasmHost) GetMapValue(t MapType, key string) (string, Status) {
	kp, kn := sp(key)
	var p *byte
	var n int32
	st := proxyGetHeaderMapValue(t, kp, kn, unsafe.Pointer(&p), &n)
	if p == nil || n <= 0 {
		return "", st
	}
	if inRetBuf(p) {
		return string(unsafe.Slice(p, n)), st
	}
	return unsafe.String(p, n), st
}

func (WasmHost) GetMapPairs(t MapType) ([]byte, Status) {
	var p *byte
	var n int32
	st := proxyGetHeaderMapPairs(t, unsafe.Pointer(&p), &n)
	return owned(p, n), st
}

func (WasmHost) SetMapPairs(t MapType, encoded []byte) Status {
	p, n := bp(encoded)
	return proxySetHeaderMapPairs(t, p, n)
}

func (WasmHost) AddMapValue(t MapType, key, value string) Status {
	kp, kn := sp(key)
	vp, vn := sp(value)
	return proxyAddHeaderMapValue(t, kp, kn, vp, vn)
}

func (WasmHost) ReplaceMapValue(t MapType, key, value string) Status {
	kp, kn := sp(key)
	vp, vn := sp(value)
	return proxyReplaceHeaderMapValue(t, kp, kn, vp, vn)
}

func (WasmHost) RemoveMapValue(t MapType, key string) Status {
	kp, kn := sp(key)
	return proxyRemoveHeaderMapValue(t, kp, kn)
}

func (WasmHost) ContinueStream(t StreamType) Status { return proxyContinueStream(t) }
func (WasmHost) CloseStream(t StreamType) Status    { return proxyCloseStream(t) }

func (WasmHost) SendLocalResponse(status uint32, details string, body, headers []byte, grpcStatus int32) Status {
	dp, dn := sp(details)
	bpp, bn := bp(body)
	hp, hn := bp(headers)
	return proxySendLocalResponse(status, dp, dn, bpp, bn, hp, hn, grpcStatus)
}

func (WasmHost) HTTPCall(upstream string, headers, body, trailers []byte, timeoutMS uint32) (uint32, Status) {
	up, un := sp(upstream)
	hp, hn := bp(headers)
	bpp, bn := bp(body)
	tp, tn := bp(trailers)
	var token uint32
	st := proxyHTTPCall(up, un, hp, hn, bpp, bn, tp, tn, timeoutMS, &token)
	return token, st
}

func (WasmHost) GetProperty(path []byte) ([]byte, Status) {
	pp, pn := bp(path)
	var p *byte
	var n int32
	st := proxyGetProperty(pp, pn, unsafe.Pointer(&p), &n)
	return owned(p, n), st
}

func (WasmHost) SetProperty(path, value []byte) Status {
	pp, pn := bp(path)
	vp, vn := bp(value)
	return proxySetProperty(pp, pn, vp, vn)
}

func (WasmHost) GetSharedData(key string) ([]byte, uint32, Status) {
	kp, kn := sp(key)
	var p *byte
	var n int32
	var cas uint32
	st := proxyGetSharedData(kp, kn, unsafe.Pointer(&p), &n, &cas)
	return owned(p, n), cas, st
}

func (WasmHost) SetSharedData(key string, value []byte, cas uint32) Status {
	kp, kn := sp(key)
	vp, vn := bp(value)
	return proxySetSharedData(kp, kn, vp, vn, cas)
}

func (WasmHost) RegisterQueue(name string) (uint32, Status) {
	np, nn := sp(name)
	var id uint32
	st := proxyRegisterSharedQueue(np, nn, &id)
	return id, st
}

func (WasmHost) ResolveQueue(vmID, name string) (uint32, Status) {
	vp, vn := sp(vmID)
	np, nn := sp(name)
	var id uint32
	st := proxyResolveSharedQueue(vp, vn, np, nn, &id)
	return id, st
}

func (WasmHost) Enqueue(id uint32, data []byte) Status {
	p, n := bp(data)
	return proxyEnqueueSharedQueue(id, p, n)
}

func (WasmHost) Dequeue(id uint32) ([]byte, Status) {
	var p *byte
	var n int32
	st := proxyDequeueSharedQueue(id, unsafe.Pointer(&p), &n)
	return owned(p, n), st
}

func (WasmHost) DefineMetric(t MetricType, name string) (uint32, Status) {
	np, nn := sp(name)
	var id uint32
	st := proxyDefineMetric(t, np, nn, &id)
	return id, st
}

func (WasmHost) IncrementMetric(id uint32, delta int64) Status {
	return proxyIncrementMetric(id, delta)
}
func (WasmHost) RecordMetric(id uint32, value uint64) Status { return proxyRecordMetric(id, value) }

func (WasmHost) GetMetric(id uint32) (uint64, Status) {
	var v uint64
	st := proxyGetMetric(id, &v)
	return v, st
}

func (WasmHost) CallForeignFunction(name string, param []byte) ([]byte, Status) {
	np, nn := sp(name)
	pp, pn := bp(param)
	var p *byte
	var n int32
	st := proxyCallForeignFunction(np, nn, pp, pn, unsafe.Pointer(&p), &n)
	return owned(p, n), st
}
