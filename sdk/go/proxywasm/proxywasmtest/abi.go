package proxywasmtest

import (
	"strings"
	"time"

	"github.com/wasmgate/wasmgate/sdk/go/internal/abi"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// HTTPCall is an http_call the filter dispatched.
type HTTPCall struct {
	Token    uint32
	Upstream string
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
	Timeout  time.Duration
	Caller   uint32 // context that dispatched the call

	h        *Host
	answered bool
}

// Header returns the first value of a header of the call.
func (c *HTTPCall) Header(name string) (string, bool) { return lookup(c.Headers, name) }

// Respond delivers the response to the filter (proxy_on_http_call_response
// on the root context, as Envoy does). Headers should include :status.
func (c *HTTPCall) Respond(headers [][2]string, body []byte, trailers [][2]string) {
	h := c.h
	if c.answered {
		h.tb.Fatalf("proxywasmtest: http_call %d answered twice", c.Token)
		return
	}
	c.answered = true
	for i, p := range h.calls {
		if p == c {
			h.calls = append(h.calls[:i], h.calls[i+1:]...)
			break
		}
	}
	h.response = &callResponse{
		headers:  clonePairs(headers),
		body:     clone(body),
		trailers: clonePairs(trailers),
	}
	defer func() { h.response = nil }()
	h.enter(h.root)
	h.guest.OnHTTPCallResponse(h.root, c.Token, len(headers), len(body), len(trailers))
}

// Fail delivers a failed call (no headers, as on a timeout or reset).
func (c *HTTPCall) Fail() { c.Respond(nil, nil, nil) }

type callResponse struct {
	headers  [][2]string
	body     []byte
	trailers [][2]string
}

// fakeABI is the abi.Host the SDK talks to.
type fakeABI struct{ h *Host }

var _ abi.Host = fakeABI{}

func (f fakeABI) stream() *Stream { return f.h.streams[f.h.effective] }

func (f fakeABI) Log(level uint32, msg string) abi.Status {
	f.h.logs = append(f.h.logs, LogEntry{proxywasm.LogLevel(level), msg})
	f.h.tb.Logf("filter %s: %s", proxywasm.LogLevel(level), msg)
	return abi.StatusOK
}

func (f fakeABI) SetTickPeriod(ms uint32) abi.Status {
	f.h.tickPeriod = time.Duration(ms) * time.Millisecond
	return abi.StatusOK
}

func (f fakeABI) SetEffectiveContext(id uint32) abi.Status {
	if _, ok := f.h.streams[id]; !ok && id != f.h.root {
		return abi.StatusBadArgument
	}
	f.h.effective = id
	return abi.StatusOK
}

func (f fakeABI) Done() abi.Status {
	f.h.doneCalled = true
	return abi.StatusOK
}

func (f fakeABI) buffer(t abi.BufferType) (*[]byte, abi.Status) {
	switch t {
	case abi.BufferRequestBody, abi.BufferResponseBody:
		s := f.stream()
		if s == nil {
			return nil, abi.StatusBadArgument
		}
		return &s.bodies[t], abi.StatusOK
	case abi.BufferHTTPCallResponse:
		if f.h.response == nil {
			return nil, abi.StatusNotFound
		}
		return &f.h.response.body, abi.StatusOK
	case abi.BufferVMConfiguration:
		return &f.h.opts.VMConfig, abi.StatusOK
	case abi.BufferPluginConfig:
		return &f.h.opts.PluginConfig, abi.StatusOK
	}
	return nil, abi.StatusBadArgument
}

func (f fakeABI) GetBuffer(t abi.BufferType, start, max int, transient bool) ([]byte, abi.Status) {
	p, st := f.buffer(t)
	if st != abi.StatusOK {
		return nil, st
	}
	b := *p
	if start < 0 || max < 0 || start > len(b) {
		return nil, abi.StatusBadArgument
	}
	end := len(b)
	if max < end-start {
		end = start + max
	}
	b = b[start:end]
	if transient {
		// Reuse one buffer like the wasip1 SDK, so tests that keep a
		// transient result too long see it change.
		f.h.scratch = append(f.h.scratch[:0], b...)
		return f.h.scratch, abi.StatusOK
	}
	return clone(b), abi.StatusOK
}

func (f fakeABI) SetBuffer(t abi.BufferType, start, size int, data []byte) abi.Status {
	if t != abi.BufferRequestBody && t != abi.BufferResponseBody {
		return abi.StatusBadArgument
	}
	p, st := f.buffer(t)
	if st != abi.StatusOK {
		return st
	}
	b := *p
	if start < 0 || size < 0 {
		return abi.StatusBadArgument
	}
	start = min(start, len(b))
	end := len(b)
	if size < end-start {
		end = start + size
	}
	out := make([]byte, 0, len(b)-(end-start)+len(data))
	out = append(out, b[:start]...)
	out = append(out, data...)
	out = append(out, b[end:]...)
	*p = out
	return abi.StatusOK
}

func (f fakeABI) headerMap(t abi.MapType) (*[][2]string, abi.Status) {
	switch t {
	case abi.MapRequestHeaders, abi.MapRequestTrailers, abi.MapResponseHeaders, abi.MapResponseTrailers:
		s := f.stream()
		if s == nil {
			return nil, abi.StatusBadArgument
		}
		return &s.maps[t], abi.StatusOK
	case abi.MapHTTPCallResponseHead, abi.MapHTTPCallResponseTrlr:
		r := f.h.response
		if r == nil {
			return nil, abi.StatusNotFound
		}
		if t == abi.MapHTTPCallResponseHead {
			return &r.headers, abi.StatusOK
		}
		return &r.trailers, abi.StatusOK
	}
	return nil, abi.StatusBadArgument
}

func (f fakeABI) GetMapValue(t abi.MapType, key string) (string, abi.Status) {
	m, st := f.headerMap(t)
	if st != abi.StatusOK {
		return "", st
	}
	if v, ok := lookup(*m, key); ok {
		return strings.Clone(v), abi.StatusOK
	}
	return "", abi.StatusNotFound
}

func (f fakeABI) GetMapPairs(t abi.MapType) ([]byte, abi.Status) {
	m, st := f.headerMap(t)
	if st != abi.StatusOK {
		return nil, st
	}
	return abi.AppendPairs(nil, *m), abi.StatusOK
}

func (f fakeABI) SetMapPairs(t abi.MapType, encoded []byte) abi.Status {
	m, st := f.writableMap(t)
	if st != abi.StatusOK {
		return st
	}
	pairs, err := abi.DecodePairs(encoded)
	if err != nil {
		return abi.StatusBadArgument
	}
	*m = clonePairs(pairs) // the SDK reuses encoded
	return abi.StatusOK
}

func (f fakeABI) writableMap(t abi.MapType) (*[][2]string, abi.Status) {
	if t == abi.MapHTTPCallResponseHead || t == abi.MapHTTPCallResponseTrlr {
		return nil, abi.StatusBadArgument
	}
	return f.headerMap(t)
}

func (f fakeABI) AddMapValue(t abi.MapType, key, value string) abi.Status {
	m, st := f.writableMap(t)
	if st != abi.StatusOK {
		return st
	}
	*m = append(*m, [2]string{strings.ToLower(key), strings.Clone(value)})
	return abi.StatusOK
}

func (f fakeABI) ReplaceMapValue(t abi.MapType, key, value string) abi.Status {
	m, st := f.writableMap(t)
	if st != abi.StatusOK {
		return st
	}
	out := (*m)[:0]
	replaced := false
	for _, kv := range *m {
		if strings.EqualFold(kv[0], key) {
			if replaced {
				continue
			}
			kv[1] = strings.Clone(value)
			replaced = true
		}
		out = append(out, kv)
	}
	if !replaced {
		out = append(out, [2]string{strings.ToLower(key), strings.Clone(value)})
	}
	*m = out
	return abi.StatusOK
}

func (f fakeABI) RemoveMapValue(t abi.MapType, key string) abi.Status {
	m, st := f.writableMap(t)
	if st != abi.StatusOK {
		return st
	}
	out := (*m)[:0]
	for _, kv := range *m {
		if !strings.EqualFold(kv[0], key) {
			out = append(out, kv)
		}
	}
	*m = out
	return abi.StatusOK
}

func (f fakeABI) ContinueStream(t abi.StreamType) abi.Status {
	s := f.stream()
	if s == nil || t > abi.StreamResponse {
		return abi.StatusBadArgument
	}
	s.continued[t]++
	return abi.StatusOK
}

func (f fakeABI) CloseStream(t abi.StreamType) abi.Status {
	s := f.stream()
	if s == nil || t > abi.StreamResponse {
		return abi.StatusBadArgument
	}
	s.closed[t]++
	return abi.StatusOK
}

func (f fakeABI) SendLocalResponse(status uint32, details string, body, headers []byte, grpcStatus int32) abi.Status {
	s := f.stream()
	if s == nil {
		return abi.StatusBadArgument
	}
	pairs, err := abi.DecodePairs(headers)
	if err != nil {
		return abi.StatusBadArgument
	}
	s.local = &LocalResponse{
		Status:     int(status),
		Body:       clone(body),
		Headers:    clonePairs(pairs),
		Details:    strings.Clone(details),
		GRPCStatus: grpcStatus,
	}
	return abi.StatusOK
}

func (f fakeABI) HTTPCall(upstream string, headers, body, trailers []byte, timeoutMS uint32) (uint32, abi.Status) {
	hs, err := abi.DecodePairs(headers)
	if err != nil {
		return 0, abi.StatusBadArgument
	}
	ts, err := abi.DecodePairs(trailers)
	if err != nil {
		return 0, abi.StatusBadArgument
	}
	for _, required := range []string{":method", ":path", ":authority"} {
		if _, ok := lookup(hs, required); !ok {
			return 0, abi.StatusBadArgument
		}
	}
	f.h.nextToken++
	c := &HTTPCall{
		Token:    f.h.nextToken,
		Upstream: strings.Clone(upstream),
		Headers:  clonePairs(hs),
		Body:     clone(body),
		Trailers: clonePairs(ts),
		Timeout:  time.Duration(timeoutMS) * time.Millisecond,
		Caller:   f.h.effective,
		h:        f.h,
	}
	f.h.calls = append(f.h.calls, c)
	return c.Token, abi.StatusOK
}

func dotted(encodedPath []byte) string {
	return strings.ReplaceAll(string(encodedPath), "\x00", ".")
}

func (f fakeABI) GetProperty(path []byte) ([]byte, abi.Status) {
	p := dotted(path)
	var v string
	var ok bool
	if s := f.stream(); s != nil {
		v, ok = s.Property(p)
	} else {
		v, ok = f.h.Property(p)
	}
	if !ok {
		return nil, abi.StatusNotFound
	}
	return []byte(v), abi.StatusOK
}

func (f fakeABI) SetProperty(path, value []byte) abi.Status {
	p := dotted(path)
	if s := f.stream(); s != nil {
		s.props[p] = string(value)
	} else {
		f.h.props[p] = string(value)
	}
	return abi.StatusOK
}

func (f fakeABI) GetSharedData(key string) ([]byte, uint32, abi.Status) {
	v, ok := f.h.shared[key]
	if !ok {
		return nil, 0, abi.StatusNotFound
	}
	return clone(v.data), v.cas, abi.StatusOK
}

func (f fakeABI) SetSharedData(key string, value []byte, cas uint32) abi.Status {
	if v, ok := f.h.shared[key]; ok && cas != 0 && cas != v.cas {
		return abi.StatusCASMismatch
	}
	f.h.SetSharedData(strings.Clone(key), value)
	return abi.StatusOK
}

func (f fakeABI) RegisterQueue(name string) (uint32, abi.Status) {
	k := queueKey(f.h.opts.VMID, name)
	if id, ok := f.h.queueIndex[k]; ok {
		return id, abi.StatusOK
	}
	owner := f.h.effective
	if s := f.stream(); s != nil {
		owner = f.h.root
	}
	f.h.queues = append(f.h.queues, &queue{owner: owner})
	id := uint32(len(f.h.queues))
	f.h.queueIndex[k] = id
	return id, abi.StatusOK
}

func (f fakeABI) ResolveQueue(vmID, name string) (uint32, abi.Status) {
	if id, ok := f.h.queueIndex[queueKey(vmID, name)]; ok {
		return id, abi.StatusOK
	}
	return 0, abi.StatusNotFound
}

func (f fakeABI) Enqueue(id uint32, data []byte) abi.Status {
	q := f.h.queue(id)
	if q == nil {
		return abi.StatusNotFound
	}
	q.items = append(q.items, clone(data))
	q.ready = true
	return abi.StatusOK
}

func (f fakeABI) Dequeue(id uint32) ([]byte, abi.Status) {
	q := f.h.queue(id)
	if q == nil {
		return nil, abi.StatusNotFound
	}
	if len(q.items) == 0 {
		return nil, abi.StatusEmpty
	}
	d := q.items[0]
	q.items = q.items[1:]
	return d, abi.StatusOK
}

func (f fakeABI) DefineMetric(t abi.MetricType, name string) (uint32, abi.Status) {
	if t > abi.MetricHistogram {
		return 0, abi.StatusBadArgument
	}
	if id, ok := f.h.metricIndex[name]; ok {
		if f.h.metrics[id-1].kind != t {
			return 0, abi.StatusBadArgument
		}
		return id, abi.StatusOK
	}
	f.h.metrics = append(f.h.metrics, &metric{kind: t})
	id := uint32(len(f.h.metrics))
	f.h.metricIndex[strings.Clone(name)] = id
	return id, abi.StatusOK
}

func (f fakeABI) metric(id uint32) *metric {
	if id == 0 || int(id) > len(f.h.metrics) {
		return nil
	}
	return f.h.metrics[id-1]
}

func (f fakeABI) IncrementMetric(id uint32, delta int64) abi.Status {
	m := f.metric(id)
	if m == nil {
		return abi.StatusNotFound
	}
	switch {
	case m.kind == abi.MetricHistogram, m.kind == abi.MetricCounter && delta < 0:
		return abi.StatusBadArgument
	}
	m.value += uint64(delta)
	return abi.StatusOK
}

func (f fakeABI) RecordMetric(id uint32, value uint64) abi.Status {
	m := f.metric(id)
	if m == nil {
		return abi.StatusNotFound
	}
	switch m.kind {
	case abi.MetricHistogram:
		m.records = append(m.records, value)
	case abi.MetricGauge:
		m.value = value
	default:
		return abi.StatusBadArgument
	}
	return abi.StatusOK
}

func (f fakeABI) GetMetric(id uint32) (uint64, abi.Status) {
	m := f.metric(id)
	if m == nil {
		return 0, abi.StatusNotFound
	}
	if m.kind == abi.MetricHistogram {
		return 0, abi.StatusBadArgument
	}
	return m.value, abi.StatusOK
}

func (f fakeABI) CallForeignFunction(name string, param []byte) ([]byte, abi.Status) {
	fn, ok := f.h.foreign[name]
	if !ok {
		return nil, abi.StatusNotFound
	}
	out, err := fn(clone(param))
	if err != nil {
		return nil, abi.StatusInternalFailure
	}
	return clone(out), abi.StatusOK
}
