package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/wasmgate/wasmgate/wasmhost/internal/abi"
	"github.com/wasmgate/wasmgate/wasmhost/internal/metrics"
	"github.com/wasmgate/wasmgate/wasmhost/internal/pairs"
	"github.com/wasmgate/wasmgate/wasmhost/internal/shared"
)

// hostFunc is one import of module "env". params has one letter per
// parameter: 'i' for i32, 'I' for i64. Every function returns an i32 status
// unless void is set.
type hostFunc struct {
	name   string
	params string
	void   bool
	fn     func(in *instance, s []uint64) abi.Status
}

// defaultCalloutTimeout applies when a plugin passes 0 to proxy_http_call.
const defaultCalloutTimeout = 10 * time.Second

// hostFuncs lists every host function of the ABI 0.2.1 (plus the 0.1.0
// leftovers and Emscripten/AssemblyScript helpers toolchains import).
func hostFuncs() []hostFunc {
	return []hostFunc{
		{"proxy_log", "iii", false, hLog},
		{"proxy_get_log_level", "i", false, hGetLogLevel},
		{"proxy_get_current_time_nanoseconds", "i", false, hGetTime},
		{"proxy_set_tick_period_milliseconds", "i", false, hSetTick},
		{"proxy_get_configuration", "ii", false, hGetConfiguration},
		{"proxy_get_buffer_status", "iii", false, hGetBufferStatus},
		{"proxy_get_buffer_bytes", "iiiii", false, hGetBufferBytes},
		{"proxy_set_buffer_bytes", "iiiii", false, hSetBufferBytes},
		{"proxy_get_header_map_pairs", "iii", false, hGetHeaderMapPairs},
		{"proxy_set_header_map_pairs", "iii", false, hSetHeaderMapPairs},
		{"proxy_get_header_map_size", "ii", false, hGetHeaderMapSize},
		{"proxy_get_header_map_value", "iiiii", false, hGetHeaderMapValue},
		{"proxy_add_header_map_value", "iiiii", false, hAddHeaderMapValue},
		{"proxy_replace_header_map_value", "iiiii", false, hReplaceHeaderMapValue},
		{"proxy_remove_header_map_value", "iii", false, hRemoveHeaderMapValue},
		{"proxy_get_property", "iiii", false, hGetProperty},
		{"proxy_set_property", "iiii", false, hSetProperty},
		{"proxy_send_local_response", "iiiiiiii", false, hSendLocalResponse},
		{"proxy_continue_stream", "i", false, hContinueStream},
		{"proxy_close_stream", "i", false, hCloseStream},
		{"proxy_continue_request", "", false, func(in *instance, s []uint64) abi.Status {
			s[0] = abi.StreamRequest
			return hContinueStream(in, s)
		}},
		{"proxy_continue_response", "", false, func(in *instance, s []uint64) abi.Status {
			s[0] = abi.StreamResponse
			return hContinueStream(in, s)
		}},
		{"proxy_clear_route_cache", "", false, func(*instance, []uint64) abi.Status { return abi.StatusOK }},
		{"proxy_http_call", "iiiiiiiiii", false, hHTTPCall},
		{"proxy_grpc_call", "iiiiiiiiiiii", false, unimplemented},
		{"proxy_grpc_stream", "iiiiiiiii", false, unimplemented},
		{"proxy_grpc_send", "iiii", false, unimplemented},
		{"proxy_grpc_cancel", "i", false, unimplemented},
		{"proxy_grpc_close", "i", false, unimplemented},
		{"proxy_get_status", "iii", false, unimplemented},
		{"proxy_set_effective_context", "i", false, hSetEffectiveContext},
		{"proxy_done", "", false, hDone},
		{"proxy_call_foreign_function", "iiiiii", false, func(*instance, []uint64) abi.Status { return abi.StatusNotFound }},
		{"proxy_get_shared_data", "iiiii", false, hGetSharedData},
		{"proxy_set_shared_data", "iiiii", false, hSetSharedData},
		{"proxy_register_shared_queue", "iii", false, hRegisterQueue},
		{"proxy_resolve_shared_queue", "iiiii", false, hResolveQueue},
		{"proxy_dequeue_shared_queue", "iii", false, hDequeue},
		{"proxy_enqueue_shared_queue", "iii", false, hEnqueue},
		{"proxy_define_metric", "iiii", false, hDefineMetric},
		{"proxy_increment_metric", "iI", false, hIncrementMetric},
		{"proxy_record_metric", "iI", false, hRecordMetric},
		{"proxy_get_metric", "ii", false, hGetMetric},
		// Emscripten (C++ SDK) notifies the host of memory growth.
		{"emscripten_notify_memory_growth", "i", true, func(*instance, []uint64) abi.Status { return 0 }},
		// AssemblyScript's abort(message, file, line, column) traps.
		{"abort", "iiii", true, hAbort},
	}
}

func unimplemented(*instance, []uint64) abi.Status { return abi.StatusUnimplemented }

// ---- guest memory helpers (lock held, called from host functions) ----

// bytes returns a view of guest memory, valid until the guest runs again.
func (in *instance) bytes(ptr, size uint64) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	return in.mem.Read(uint32(ptr), uint32(size))
}

// str is bytes as a string view; never retain it beyond the host call.
func (in *instance) str(ptr, size uint64) (string, bool) {
	b, ok := in.bytes(ptr, size)
	if !ok || len(b) == 0 {
		return "", ok
	}
	return unsafe.String(&b[0], len(b)), true
}

// writable tells whether n bytes at ptr are inside guest memory. Stack
// values of i32 parameters may carry garbage in their upper 32 bits: every
// pointer is truncated to 32 bits first.
func (in *instance) writable(ptr uint64, n uint32) bool {
	return uint64(uint32(ptr))+uint64(n) <= uint64(in.mem.Size())
}

// allocate calls the guest allocator (a nested call).
func (in *instance) allocate(size uint32) (uint32, bool) {
	if in.dead.Load() {
		return 0, false
	}
	in.astack[0] = uint64(size)
	in.depth++
	err := in.alloc.CallWithStack(&in.cctx, in.astack[:])
	in.depth--
	if err != nil {
		in.die(in.classify(fmt.Errorf("%s: %w", in.p.exports.alloc, err)))
		return 0, false
	}
	return uint32(in.astack[0]), true
}

// retString copies s into the guest's return buffer when it fits there
// (ReturnBufferExport), else into freshly allocated guest memory, and
// stores its address and size at ptrPtr and sizePtr. Empty values are
// returned as (0, 0) without allocating, as Envoy does.
func (in *instance) retString(ptrPtr, sizePtr uint64, s string) abi.Status {
	if !in.writable(ptrPtr, 4) || !in.writable(sizePtr, 4) {
		return abi.StatusInvalidMemoryAccess
	}
	var ptr uint32
	if len(s) > 0 {
		var ok bool
		if uint64(len(s)) <= uint64(in.retSize) {
			ptr = in.retPtr // the guest copies it out (ReturnBufferExport)
		} else if ptr, ok = in.allocate(uint32(len(s))); !ok || ptr == 0 {
			return abi.StatusInternalFailure
		}
		buf, ok := in.mem.Read(ptr, uint32(len(s)))
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		copy(buf, s)
	}
	in.mem.WriteUint32Le(uint32(ptrPtr), ptr)
	in.mem.WriteUint32Le(uint32(sizePtr), uint32(len(s)))
	return abi.StatusOK
}

func (in *instance) retBytes(ptrPtr, sizePtr uint64, b []byte) abi.Status {
	return in.retString(ptrPtr, sizePtr, unsafe.String(unsafe.SliceData(b), len(b)))
}

func (in *instance) putU32(ptr uint64, v uint32) abi.Status {
	if !in.writable(ptr, 4) {
		return abi.StatusInvalidMemoryAccess
	}
	in.mem.WriteUint32Le(uint32(ptr), v)
	return abi.StatusOK
}

func (in *instance) putU64(ptr uint64, v uint64) abi.Status {
	if !in.writable(ptr, 8) {
		return abi.StatusInvalidMemoryAccess
	}
	in.mem.WriteUint64Le(uint32(ptr), v)
	return abi.StatusOK
}

// lower returns name in lower case, as a view into scratch memory unless it
// is already lower case. Valid until the next call.
func (in *instance) lower(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			in.scratch = append(in.scratch[:0], name...)
			for j := i; j < len(in.scratch); j++ {
				if c := in.scratch[j]; 'A' <= c && c <= 'Z' {
					in.scratch[j] = c + 'a' - 'A'
				}
			}
			return unsafe.String(&in.scratch[0], len(in.scratch))
		}
	}
	return name
}

// owned returns heap copies of name (lower-cased) and value, in one
// allocation.
func owned(name, value string) (string, string) {
	var sb strings.Builder
	sb.Grow(len(name) + len(value))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		sb.WriteByte(c)
	}
	sb.WriteString(value)
	s := sb.String()
	return s[:len(name)], s[len(name):]
}

// ---- logging, time, ticks, configuration ----

func hLog(in *instance, s []uint64) abi.Status {
	level := uint32(s[0])
	msg, ok := in.bytes(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if level > abi.LogCritical {
		return abi.StatusBadArgument
	}
	if level >= in.p.logLevel {
		in.p.log.Log(context.Background(), slogLevel(level), string(msg))
	}
	return abi.StatusOK
}

func hGetLogLevel(in *instance, s []uint64) abi.Status {
	return in.putU32(s[0], in.p.logLevel)
}

func hGetTime(in *instance, s []uint64) abi.Status {
	return in.putU64(s[0], uint64(in.p.h.cfg.Now().UnixNano()))
}

func hSetTick(in *instance, s []uint64) abi.Status {
	in.tickMs.Store(uint32(s[0]))
	select {
	case in.tickSet <- struct{}{}:
	default:
	}
	return abi.StatusOK
}

func hGetConfiguration(in *instance, s []uint64) abi.Status {
	return in.retBytes(s[0], s[1], in.p.cfg.PluginConfig)
}

// ---- buffers ----

// buffer returns the buffer of type t, whether it exists, and whether the
// type is known at all.
func (in *instance) buffer(t uint32) (b []byte, exists, known bool) {
	switch t {
	case abi.BufferRequestBody, abi.BufferResponseBody:
		c := in.current
		if !c.accessible() {
			return nil, false, true
		}
		return c.stream.Body(BodyKind(t)), true, true
	case abi.BufferHTTPCallResponseBody:
		if in.callout == nil {
			return nil, false, true
		}
		return in.callout.Body, true, true
	case abi.BufferVMConfiguration:
		return in.p.cfg.VMConfig, true, true
	case abi.BufferPluginConfiguration:
		return in.p.cfg.PluginConfig, true, true
	case abi.BufferDownstreamData, abi.BufferUpstreamData, abi.BufferGRPCReceive, abi.BufferCallData:
		return nil, false, true
	}
	return nil, false, false
}

func hGetBufferStatus(in *instance, s []uint64) abi.Status {
	b, exists, known := in.buffer(uint32(s[0]))
	switch {
	case !known:
		return abi.StatusBadArgument
	case !exists:
		return abi.StatusNotFound
	}
	if st := in.putU32(s[1], uint32(len(b))); st != abi.StatusOK {
		return st
	}
	return in.putU32(s[2], 0)
}

func hGetBufferBytes(in *instance, s []uint64) abi.Status {
	b, exists, known := in.buffer(uint32(s[0]))
	switch {
	case !known:
		return abi.StatusBadArgument
	case !exists:
		return abi.StatusNotFound
	}
	start, size := uint64(uint32(s[1])), uint64(uint32(s[2]))
	start = min(start, uint64(len(b)))
	end := min(start+size, uint64(len(b)))
	return in.retBytes(s[3], s[4], b[start:end])
}

func hSetBufferBytes(in *instance, s []uint64) abi.Status {
	t := uint32(s[0])
	if t != abi.BufferRequestBody && t != abi.BufferResponseBody {
		if _, _, known := in.buffer(t); !known {
			return abi.StatusBadArgument
		}
		return abi.StatusNotFound
	}
	data, ok := in.bytes(s[3], s[4])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	c := in.current
	if !c.accessible() {
		return abi.StatusNotFound
	}
	old := c.stream.Body(BodyKind(t))
	start := min(uint64(uint32(s[1])), uint64(len(old)))
	end := min(start+uint64(uint32(s[2])), uint64(len(old)))
	nb := make([]byte, 0, uint64(len(old))-(end-start)+uint64(len(data)))
	nb = append(nb, old[:start]...)
	nb = append(nb, data...)
	nb = append(nb, old[end:]...)
	if err := c.stream.SetBody(BodyKind(t), nb); err != nil {
		in.p.log.Debug("set body refused", "error", err)
		return abi.StatusBadArgument
	}
	return abi.StatusOK
}

// ---- header maps ----

// pairList adapts a [][2]string (http_call responses) to HeaderMap.
type pairList struct{ p *[][2]string }

func (l pairList) Get(name string) (string, bool) {
	for _, kv := range *l.p {
		if strings.EqualFold(kv[0], name) {
			return kv[1], true
		}
	}
	return "", false
}
func (l pairList) Len() int { return len(*l.p) }
func (l pairList) Range(fn func(string, string) bool) {
	for _, kv := range *l.p {
		if !fn(kv[0], kv[1]) {
			return
		}
	}
}
func (l pairList) Add(name, value string) {
	*l.p = append(*l.p, [2]string{strings.Clone(name), strings.Clone(value)})
}
func (l pairList) Set(name, value string) { l.Del(name); l.Add(name, value) }
func (l pairList) Del(name string) {
	*l.p = slicesDeleteFunc(*l.p, func(kv [2]string) bool { return strings.EqualFold(kv[0], name) })
}

func slicesDeleteFunc(s [][2]string, del func([2]string) bool) [][2]string {
	out := s[:0]
	for _, kv := range s {
		if !del(kv) {
			out = append(out, kv)
		}
	}
	return out
}

// headerMap returns map t, or a status when it does not exist.
func (in *instance) headerMap(t uint32) (HeaderMap, abi.Status) {
	switch t {
	case abi.MapRequestHeaders, abi.MapRequestTrailers, abi.MapResponseHeaders, abi.MapResponseTrailers:
		c := in.current
		if !c.accessible() {
			return nil, abi.StatusNotFound
		}
		m := c.stream.HeaderMap(MapType(t))
		if m == nil {
			return nil, abi.StatusNotFound
		}
		return m, abi.StatusOK
	case abi.MapHTTPCallResponseHeaders:
		if in.callout == nil {
			return nil, abi.StatusNotFound
		}
		return pairList{&in.callout.Headers}, abi.StatusOK
	case abi.MapHTTPCallResponseTrailer:
		if in.callout == nil {
			return nil, abi.StatusNotFound
		}
		return pairList{&in.callout.Trailers}, abi.StatusOK
	case abi.MapGRPCReceiveInitialMeta, abi.MapGRPCReceiveTrailingMeta:
		return nil, abi.StatusNotFound
	}
	return nil, abi.StatusBadArgument
}

func (in *instance) addPair(name, value string) bool {
	in.enc.Add(name, value)
	return true
}

// serialize encodes m into in.scratch.
func (in *instance) serialize(m HeaderMap) []byte {
	in.enc.Reset()
	m.Range(in.addPairFn)
	in.scratch = in.enc.Finish(in.scratch[:0])
	return in.scratch
}

func hGetHeaderMapPairs(in *instance, s []uint64) abi.Status {
	m, st := in.headerMap(uint32(s[0]))
	if st != abi.StatusOK {
		return st
	}
	return in.retBytes(s[1], s[2], in.serialize(m))
}

func hSetHeaderMapPairs(in *instance, s []uint64) abi.Status {
	m, st := in.headerMap(uint32(s[0]))
	if st != abi.StatusOK {
		return st
	}
	b, ok := in.bytes(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	// Check the whole list first: a malformed one changes nothing.
	if err := pairs.Parse(b, func(_, _ []byte) error { return nil }); err != nil {
		return abi.StatusBadArgument
	}
	var names []string
	m.Range(func(k, _ string) bool { names = append(names, k); return true })
	for _, n := range names {
		m.Del(n)
	}
	// Views, not copies: maps copy what they keep (see HeaderMap).
	_ = pairs.Parse(b, func(k, v []byte) error {
		m.Add(in.lower(unsafe.String(unsafe.SliceData(k), len(k))), unsafe.String(unsafe.SliceData(v), len(v)))
		return nil
	})
	return abi.StatusOK
}

func hGetHeaderMapSize(in *instance, s []uint64) abi.Status {
	m, st := in.headerMap(uint32(s[0]))
	if st != abi.StatusOK {
		return st
	}
	n := 0
	m.Range(func(k, v string) bool { n += len(k) + len(v); return true })
	return in.putU32(s[1], uint32(n))
}

func hGetHeaderMapValue(in *instance, s []uint64) abi.Status {
	key, ok := in.str(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	m, st := in.headerMap(uint32(s[0]))
	if st != abi.StatusOK {
		return st
	}
	v, found := m.Get(in.lower(key))
	if !found {
		return abi.StatusNotFound
	}
	return in.retString(s[3], s[4], v)
}

func hAddHeaderMapValue(in *instance, s []uint64) abi.Status {
	return in.mutateHeader(s, false)
}

func hReplaceHeaderMapValue(in *instance, s []uint64) abi.Status {
	return in.mutateHeader(s, true)
}

func (in *instance) mutateHeader(s []uint64, replace bool) abi.Status {
	key, ok := in.str(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	value, ok := in.str(s[3], s[4])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	m, st := in.headerMap(uint32(s[0]))
	if st != abi.StatusOK {
		return st
	}
	// Views, not copies: maps copy what they keep (see HeaderMap).
	if name := in.lower(key); replace {
		m.Set(name, value)
	} else {
		m.Add(name, value)
	}
	return abi.StatusOK
}

func hRemoveHeaderMapValue(in *instance, s []uint64) abi.Status {
	key, ok := in.str(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	m, st := in.headerMap(uint32(s[0]))
	if st != abi.StatusOK {
		return st
	}
	m.Del(in.lower(key))
	return abi.StatusOK
}

// ---- streams ----

// httpStream returns the HTTP context a continue/close call is about: the
// stream type must be request or response (the L4 ones are not supported)
// and an HTTP context must be current.
func (in *instance) httpStream(streamType uint64) (*HTTPContext, abi.Status) {
	switch uint32(streamType) {
	case abi.StreamRequest, abi.StreamResponse:
	case abi.StreamDownstream, abi.StreamUpstream:
		return nil, abi.StatusUnimplemented
	default:
		return nil, abi.StatusBadArgument
	}
	if in.current == nil {
		return nil, abi.StatusBadArgument
	}
	return in.current, abi.StatusOK
}

func hContinueStream(in *instance, s []uint64) abi.Status {
	c, st := in.httpStream(s[0])
	if st != abi.StatusOK {
		return st
	}
	switch c.state {
	case statePaused:
		c.resume(ActionContinue)
	case stateCallback:
		c.continued = true
	}
	return abi.StatusOK
}

func hCloseStream(in *instance, s []uint64) abi.Status {
	c, st := in.httpStream(s[0])
	if st != abi.StatusOK {
		return st
	}
	c.closed = true
	c.resume(ActionReset)
	return abi.StatusOK
}

func hSendLocalResponse(in *instance, s []uint64) abi.Status {
	details, ok1 := in.bytes(s[1], s[2])
	body, ok2 := in.bytes(s[3], s[4])
	hdrs, ok3 := in.bytes(s[5], s[6])
	if !ok1 || !ok2 || !ok3 {
		return abi.StatusInvalidMemoryAccess
	}
	c := in.current
	if !c.accessible() {
		return abi.StatusNotFound
	}
	status := int(uint32(s[0]))
	if status < 100 || status > 999 {
		return abi.StatusBadArgument
	}
	r := LocalResponse{
		Status:     status,
		Details:    string(details),
		GRPCStatus: int32(uint32(s[7])),
	}
	if len(body) > 0 {
		r.Body = append([]byte(nil), body...)
	}
	if err := pairs.Parse(hdrs, func(k, v []byte) error {
		name, value := owned(string(k), string(v))
		r.Headers = append(r.Headers, [2]string{name, value})
		return nil
	}); err != nil {
		return abi.StatusBadArgument
	}
	c.stream.SendLocalResponse(r)
	c.local = true
	c.resume(ActionStop)
	return abi.StatusOK
}

func hSetEffectiveContext(in *instance, s []uint64) abi.Status {
	id := uint32(s[0])
	if id == rootID {
		in.current = nil
		return abi.StatusOK
	}
	c, ok := in.contexts[id]
	if !ok {
		return abi.StatusBadArgument
	}
	in.current = c
	return abi.StatusOK
}

func hDone(in *instance, _ []uint64) abi.Status {
	select {
	case in.doneCall <- struct{}{}:
	default:
	}
	return abi.StatusOK
}

func hAbort(in *instance, s []uint64) abi.Status {
	panic(fmt.Errorf("abort called by the guest at line %d column %d", uint32(s[2]), uint32(s[3])))
}

// ---- http_call ----

func hHTTPCall(in *instance, s []uint64) abi.Status {
	upstream, ok := in.bytes(s[0], s[1])
	hdrs, ok2 := in.bytes(s[2], s[3])
	body, ok3 := in.bytes(s[4], s[5])
	trls, ok4 := in.bytes(s[6], s[7])
	if !ok || !ok2 || !ok3 || !ok4 || !in.writable(s[9], 4) {
		return abi.StatusInvalidMemoryAccess
	}
	if in.p.cfg.HTTPCall == nil || len(upstream) == 0 {
		return abi.StatusBadArgument
	}
	req := &CalloutRequest{
		Upstream: string(upstream),
		Body:     append([]byte(nil), body...),
		Timeout:  time.Duration(uint32(s[8])) * time.Millisecond,
	}
	if req.Timeout == 0 {
		req.Timeout = defaultCalloutTimeout
	}
	parse := func(b []byte, dst *[][2]string) error {
		return pairs.Parse(b, func(k, v []byte) error {
			name, value := owned(string(k), string(v))
			*dst = append(*dst, [2]string{name, value})
			return nil
		})
	}
	if parse(hdrs, &req.Headers) != nil || parse(trls, &req.Trailers) != nil {
		return abi.StatusBadArgument
	}
	hm := pairList{&req.Headers}
	for _, h := range [...]string{":method", ":path", ":authority"} {
		if v, ok := hm.Get(h); !ok || v == "" {
			return abi.StatusBadArgument
		}
	}
	in.nextCall++
	if in.nextCall == 0 {
		in.nextCall = 1
	}
	token := in.nextCall
	in.mem.WriteUint32Le(uint32(s[9]), token)
	p := in.p
	p.wg.Go(func() {
		ctx, cancel := context.WithTimeout(p.life, req.Timeout)
		resp, err := p.cfg.HTTPCall(ctx, req)
		cancel()
		if err != nil {
			p.log.Debug("http_call failed", "upstream", req.Upstream, "error", err)
			resp = nil
		}
		in.post(event{callout: &calloutResult{token: token, resp: resp}})
	})
	return abi.StatusOK
}

// ---- shared data and queues ----

func hGetSharedData(in *instance, s []uint64) abi.Status {
	key, ok := in.str(s[0], s[1])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if !in.writable(s[4], 4) {
		return abi.StatusInvalidMemoryAccess
	}
	v, cas, err := in.p.h.store.Get(in.scratch[:0], in.p.cfg.VMID, key)
	if err != nil {
		return abi.StatusNotFound
	}
	in.scratch = v
	if st := in.retBytes(s[2], s[3], v); st != abi.StatusOK {
		return st
	}
	return in.putU32(s[4], cas)
}

func hSetSharedData(in *instance, s []uint64) abi.Status {
	key, ok := in.str(s[0], s[1])
	value, ok2 := in.bytes(s[2], s[3])
	if !ok || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	if err := in.p.h.store.Set(in.p.cfg.VMID, key, value, uint32(s[4])); err != nil {
		return abi.StatusCASMismatch
	}
	return abi.StatusOK
}

func hRegisterQueue(in *instance, s []uint64) abi.Status {
	name, ok := in.str(s[0], s[1])
	if !ok || !in.writable(s[2], 4) {
		return abi.StatusInvalidMemoryAccess
	}
	return in.putU32(s[2], in.p.h.store.RegisterQueue(in.p.cfg.VMID, name, in))
}

func hResolveQueue(in *instance, s []uint64) abi.Status {
	vm, ok := in.str(s[0], s[1])
	name, ok2 := in.str(s[2], s[3])
	if !ok || !ok2 || !in.writable(s[4], 4) {
		return abi.StatusInvalidMemoryAccess
	}
	id, err := in.p.h.store.ResolveQueue(vm, name)
	if err != nil {
		return abi.StatusNotFound
	}
	return in.putU32(s[4], id)
}

func hDequeue(in *instance, s []uint64) abi.Status {
	if !in.writable(s[1], 4) || !in.writable(s[2], 4) {
		return abi.StatusInvalidMemoryAccess
	}
	v, err := in.p.h.store.Dequeue(in.scratch[:0], uint32(s[0]))
	switch {
	case errors.Is(err, shared.ErrEmpty):
		return abi.StatusEmpty
	case err != nil:
		return abi.StatusNotFound
	}
	in.scratch = v
	return in.retBytes(s[1], s[2], v)
}

func hEnqueue(in *instance, s []uint64) abi.Status {
	v, ok := in.bytes(s[1], s[2])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if err := in.p.h.store.Enqueue(uint32(s[0]), v); err != nil {
		return abi.StatusNotFound
	}
	return abi.StatusOK
}

// ---- metrics ----

func metricStatus(err error) abi.Status {
	switch {
	case err == nil:
		return abi.StatusOK
	case errors.Is(err, metrics.ErrNotFound):
		return abi.StatusNotFound
	}
	return abi.StatusBadArgument
}

func hDefineMetric(in *instance, s []uint64) abi.Status {
	name, ok := in.str(s[1], s[2])
	if !ok || !in.writable(s[3], 4) {
		return abi.StatusInvalidMemoryAccess
	}
	id, err := in.p.h.metrics.Define(metrics.Kind(uint32(s[0])), name)
	if err != nil {
		return metricStatus(err)
	}
	return in.putU32(s[3], id)
}

func hIncrementMetric(in *instance, s []uint64) abi.Status {
	return metricStatus(in.p.h.metrics.Increment(uint32(s[0]), int64(s[1])))
}

func hRecordMetric(in *instance, s []uint64) abi.Status {
	return metricStatus(in.p.h.metrics.Record(uint32(s[0]), s[1]))
}

func hGetMetric(in *instance, s []uint64) abi.Status {
	if !in.writable(s[1], 8) {
		return abi.StatusInvalidMemoryAccess
	}
	v, err := in.p.h.metrics.Get(uint32(s[0]))
	if err != nil {
		return metricStatus(err)
	}
	return in.putU64(s[1], v)
}
