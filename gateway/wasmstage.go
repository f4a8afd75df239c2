package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/wasmgate/wasmgate/filters"
	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/wasmhost"
)

// wasmStage runs one Proxy-Wasm plugin as a chain stage.
type wasmStage struct {
	name    string
	plugin  *wasmhost.Plugin
	streams sync.Pool // *wasmStream
	// bufferBody is the largest request body the filter sees (buffer_body);
	// 0: bodies stream past it.
	bufferBody int64
	// reqTrailers, respTrailers: the module exports the trailers callbacks.
	reqTrailers, respTrailers bool
	// names interns the config's upstream and route names (configNames);
	// nil for stages built outside a config.
	names map[string]string
	// failOpen is the stage's fail = "open", set by whoever builds the
	// stage. The chain applies the fail policy to OnRequest and
	// OnResponse; trailers callbacks, which run after those, apply it
	// here (false: fail closed).
	failOpen bool
}

func newWasmStage(name string, p *wasmhost.Plugin, bufferBody int64) *wasmStage {
	s := &wasmStage{name: name, plugin: p, bufferBody: bufferBody}
	s.reqTrailers, s.respTrailers = p.HandlesTrailers()
	s.streams.New = func() any { return &wasmStream{stage: s} }
	return s
}

// stageError is a failed WASM callback; the chain answers Status() when the
// stage fails closed.
type stageError struct {
	status int
	err    error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }
func (e *stageError) Status() int   { return e.status }

func wasmFailure(err error) error {
	// A filter whose instance is gone or whose pool is exhausted is
	// unavailable (503); a trap or a blown limit is an internal error.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &stageError{status: 503, err: err}
	}
	return &stageError{status: 500, err: err}
}

// BodyLimit implements chain.BodyLimiter: the front end buffers request
// bodies up to it so the filter sees them.
func (s *wasmStage) BodyLimit() int64 { return s.bufferBody }

// OnRequest implements chain.Filter.
func (s *wasmStage) OnRequest(ctx context.Context, x *exchange.Exchange) (chain.Action, error) {
	st := s.streams.Get().(*wasmStream)
	st.x = x
	hc, err := s.plugin.NewHTTPContext(ctx, st)
	if err != nil {
		st.x = nil
		s.streams.Put(st)
		return chain.Continue, wasmFailure(err)
	}
	st.hc = hc
	x.SetSlot(s, st)
	if s.reqTrailers || s.respTrailers {
		x.WantTrailers(s)
	}
	req := &x.Request
	body := s.bufferBody > 0 && req.BodyBuffered && len(req.Body) > 0
	// With a buffered body the request is whole, trailers included: the
	// filter sees headers, body, trailers in order, here. Otherwise
	// trailers come when the body has streamed (OnRequestTrailers).
	trailers := req.BodyBuffered && req.TrailerReceived
	more := trailers || req.ExpectTrailer && !req.BodyBuffered
	act, err := hc.OnRequestHeaders(ctx, req.ContentLength == 0 && !more)
	if err == nil && act == wasmhost.ActionContinue && body {
		act, err = hc.OnRequestBody(ctx, !trailers)
		if act == wasmhost.ActionBuffer {
			act = wasmhost.ActionContinue // the trailers come next: the body is whole
		}
	}
	if err == nil && act == wasmhost.ActionContinue && trailers && s.reqTrailers {
		st.reqTrailersRan = true
		act, err = hc.OnRequestTrailers(ctx)
	}
	if err != nil {
		st.failed = true
		return chain.Continue, wasmFailure(err)
	}
	switch act {
	case wasmhost.ActionStop:
		return chain.Stop, nil
	case wasmhost.ActionReset:
		s.sendClosed(x)
		return chain.Stop, nil
	}
	return chain.Continue, nil
}

// OnResponse implements chain.Filter.
func (s *wasmStage) OnResponse(ctx context.Context, x *exchange.Exchange) error {
	st, _ := x.Slot(s).(*wasmStream)
	if st == nil || st.hc == nil {
		return nil
	}
	st.response = true
	body := s.bufferBody > 0 && x.Response.BodyBuffered && len(x.Response.Body) > 0 && !x.IsLocal()
	act, err := st.hc.OnResponseHeaders(ctx, !body)
	if err == nil && act == wasmhost.ActionContinue && body {
		act, err = st.hc.OnResponseBody(ctx, true)
	}
	if err != nil {
		st.failed = true
		return wasmFailure(err)
	}
	if act == wasmhost.ActionReset {
		x.SendLocal(502, nil)
	}
	return nil
}

// OnRequestTrailers implements exchange.TrailerStage: the request trailers
// arrived after a body that streamed past the chain.
func (s *wasmStage) OnRequestTrailers(ctx context.Context, x *exchange.Exchange) error {
	st, _ := x.Slot(s).(*wasmStream)
	if st == nil || st.hc == nil || !s.reqTrailers || st.reqTrailersRan || st.failed {
		return nil
	}
	st.reqTrailersRan = true
	act, err := st.hc.OnRequestTrailers(ctx)
	return s.trailersOutcome(x, "request", act, err)
}

// OnResponseTrailers implements exchange.TrailerStage.
func (s *wasmStage) OnResponseTrailers(ctx context.Context, x *exchange.Exchange) error {
	st, _ := x.Slot(s).(*wasmStream)
	if st == nil || st.hc == nil || !s.respTrailers || st.failed {
		return nil // a failure earlier had the chain apply the fail policy already
	}
	act, err := st.hc.OnResponseTrailers(ctx)
	return s.trailersOutcome(x, "response", act, err)
}

// trailersOutcome turns what a trailers callback did into what the front
// end does (see exchange.TrailerStage): a failure fails the stage as its
// policy says (closed: the request fails with the stage's status, or its
// stream is reset once the response has started; open: the filter is
// skipped and the trailers go on as they are); a local response replaces
// the response if it has not started (otherwise the stream is reset); a
// closed stream answers 503 or is reset.
func (s *wasmStage) trailersOutcome(x *exchange.Exchange, phase string, act wasmhost.Action, err error) error {
	if err != nil {
		if s.failOpen {
			return &openFailure{stage: s.name, err: err}
		}
		return wasmFailure(err)
	}
	switch act {
	case wasmhost.ActionStop:
		return fmt.Errorf("filter %s answered locally from its %s trailers callback", s.name, phase)
	case wasmhost.ActionReset:
		s.sendClosed(x)
		return fmt.Errorf("filter %s closed the stream from its %s trailers callback", s.name, phase)
	}
	return nil
}

// sendClosed sets the local response for a filter that closed the stream:
// 503, with the reason.
func (s *wasmStage) sendClosed(x *exchange.Exchange) {
	x.SendLocal(503, nil)
	x.Response.Header.Set("x-wasmgate-reason", "stream closed by filter "+s.name)
}

// openFailure is the failure of a trailers callback of a stage that fails
// open: the front end logs it and goes on without the filter.
type openFailure struct {
	stage string
	err   error
}

func (e *openFailure) Error() string {
	return "stage " + e.stage + " failed; skipped (fail open): " + e.err.Error()
}
func (e *openFailure) Unwrap() error { return e.err }

// Done implements chain.Filter.
func (s *wasmStage) Done(x *exchange.Exchange) {
	st, _ := x.Slot(s).(*wasmStream)
	if st == nil {
		return
	}
	if st.hc != nil {
		st.hc.Done(context.Background())
	}
	*st = wasmStream{stage: s, resp: responseMap{buf: st.resp.buf[:0]}} // keep the status buffer
	s.streams.Put(st)
	x.SetSlot(s, nil)
}

// wasmStream adapts an Exchange to wasmhost.Stream for one request.
type wasmStream struct {
	stage    *wasmStage // the stage the stream is pooled in, for its settings
	x        *exchange.Exchange
	hc       *wasmhost.HTTPContext
	response bool
	// reqTrailersRan: the filter has seen the request trailers.
	reqTrailersRan bool
	// failed: a callback failed in OnRequest or OnResponse; the chain
	// applied the stage's fail policy, the trailers skip the filter.
	failed   bool
	req      requestMap
	resp     responseMap
	trailers trailerMap
	num      [8]byte
}

func (st *wasmStream) HeaderMap(t wasmhost.MapType) wasmhost.HeaderMap {
	switch t {
	case wasmhost.RequestHeaders:
		st.req.x = st.x
		return &st.req
	case wasmhost.ResponseHeaders:
		if !st.response && !st.x.IsLocal() {
			return nil
		}
		st.resp.x = st.x
		return &st.resp
	case wasmhost.RequestTrailers:
		if !st.x.Request.TrailerReceived {
			return nil
		}
		st.trailers.h = &st.x.Request.Trailer
		return &st.trailers
	case wasmhost.ResponseTrailers:
		if !st.x.Response.TrailerReceived {
			return nil
		}
		st.trailers.h = &st.x.Response.Trailer
		return &st.trailers
	}
	return nil
}

// Body returns the buffered request or response body; nil when the body
// streams past the chain (larger than buffer_body, or a streamed upstream
// response).
func (st *wasmStream) Body(k wasmhost.BodyKind) []byte {
	if k == wasmhost.RequestBody {
		if st.x.Request.BodyBuffered {
			return st.x.Request.Body
		}
		return nil
	}
	if st.x.Response.BodyBuffered {
		return st.x.Response.Body
	}
	return nil
}

// SetBody replaces a buffered body; b is owned by the stream from now on.
func (st *wasmStream) SetBody(k wasmhost.BodyKind, b []byte) error {
	if limit := st.stage.bufferBody; limit > 0 && int64(len(b)) > limit {
		return fmt.Errorf("body of %d bytes exceeds the filter's buffer_body of %d", len(b), limit)
	}
	if k == wasmhost.RequestBody {
		if !st.x.Request.BodyBuffered {
			return errors.New("the request body is not buffered for this filter (set buffer_body)")
		}
		st.x.Request.ReplaceBody(b)
		return nil
	}
	if !st.x.Response.BodyBuffered {
		return errors.New("the response body streams past the chain (larger than 64 KiB, or buffer_body unset)")
	}
	st.x.Response.ReplaceBody(b)
	return nil
}

func (st *wasmStream) Property(path []string) ([]byte, bool) {
	x := st.x
	if len(path) == 0 {
		return nil, false
	}
	switch path[0] {
	case "source", "destination":
		ap := x.Source
		if path[0] == "destination" {
			ap = x.Destination
		}
		if len(path) == 2 && path[1] == "address" {
			return []byte(ap.String()), true
		}
		if len(path) == 2 && path[1] == "port" {
			binary.LittleEndian.PutUint64(st.num[:], uint64(ap.Port()))
			return st.num[:], true
		}
	case "request":
		if len(path) == 2 {
			switch path[1] {
			case "protocol":
				return []byte(x.Request.Protocol.String()), true
			case "id":
				return x.RequestIDString(), true
			}
		}
	case "connection":
		if len(path) != 2 {
			return nil, false
		}
		return tlsProperty(x.TLS, path[1])
	case "wasmgate":
		if len(path) != 2 {
			return nil, false
		}
		switch path[1] {
		case "upstream":
			return []byte(x.Upstream), x.Upstream != ""
		case "route":
			return []byte(x.Route), x.Route != ""
		case "consumer":
			return []byte(x.Consumer), x.Consumer != ""
		case "listener":
			return []byte(x.Listener), true
		}
		v, ok := x.Attr(path[1])
		return v, ok
	}
	return nil, false
}

func (st *wasmStream) SetProperty(path []string, value []byte) error {
	if len(path) != 2 || path[0] != "wasmgate" {
		return fmt.Errorf("property %s is read-only", strings.Join(path, "."))
	}
	x := st.x
	switch path[1] {
	case "upstream":
		x.Upstream = st.name(value)
	case "route":
		x.Route = st.name(value)
	case "consumer":
		x.Consumer = string(value)
	case "listener":
		return errors.New("property wasmgate.listener is read-only")
	default:
		x.SetAttr(path[1], value)
	}
	return nil
}

// name returns value as a string: the config's own string when it names
// an upstream or a route, so that routing a request allocates nothing.
func (st *wasmStream) name(value []byte) string {
	if s, ok := st.stage.names[string(value)]; ok {
		return s
	}
	return string(value)
}

func (st *wasmStream) SendLocalResponse(r wasmhost.LocalResponse) {
	x := st.x
	x.SendLocal(r.Status, r.Body)
	for _, h := range r.Headers {
		x.Response.Header.Add(h[0], h[1])
	}
	if r.GRPCStatus >= 0 {
		x.Response.Header.Set("grpc-status", strconv.Itoa(int(r.GRPCStatus)))
	}
}

// requestMap is the request header map with HTTP/2-style pseudo-headers.
type requestMap struct{ x *exchange.Exchange }

var requestPseudo = [...]string{":authority", ":path", ":method", ":scheme"}

func (m *requestMap) pseudo(name string) ([]byte, bool) {
	r := &m.x.Request
	switch name {
	case ":authority":
		return r.Authority, true
	case ":path":
		return r.Path, true
	case ":method":
		return r.Method, true
	case ":scheme":
		return r.Scheme, true
	}
	return nil, false
}

// The strings the header maps return view the exchange's memory without
// copying: wasmhost copies what Get and Range return into the guest before
// it touches the map again.

func (m *requestMap) Get(name string) (string, bool) {
	if strings.HasPrefix(name, ":") {
		v, ok := m.pseudo(name)
		return bytesToString(v), ok
	}
	v, ok := m.x.Request.Header.Lookup(name)
	return bytesToString(v), ok
}

func (m *requestMap) Len() int { return len(requestPseudo) + m.x.Request.Header.Len() }

func (m *requestMap) Range(fn func(name, value string) bool) {
	for _, p := range requestPseudo {
		v, _ := m.pseudo(p)
		if !fn(p, bytesToString(v)) {
			return
		}
	}
	m.x.Request.Header.Range(func(k, v []byte) bool { return fn(bytesToString(k), bytesToString(v)) })
}

func (m *requestMap) Add(name, value string) {
	if strings.HasPrefix(name, ":") {
		m.Set(name, value)
		return
	}
	m.x.Request.Header.Add(name, value)
}

func (m *requestMap) Set(name, value string) {
	r := &m.x.Request
	switch name {
	case ":authority":
		r.SetAuthority(value)
	case ":path":
		r.SetPath(value)
	case ":method":
		r.SetMethod(value)
	case ":scheme":
		r.SetScheme(value)
	default:
		if !strings.HasPrefix(name, ":") {
			r.Header.Set(name, value)
		}
	}
}

func (m *requestMap) Del(name string) {
	if !strings.HasPrefix(name, ":") {
		m.x.Request.Header.Del(name)
	}
}

// responseMap is the response header map with :status.
type responseMap struct {
	x   *exchange.Exchange
	buf []byte // the formatted :status
}

func (m *responseMap) Get(name string) (string, bool) {
	if name == ":status" {
		return m.status(), true
	}
	v, ok := m.x.Response.Header.Lookup(name)
	return bytesToString(v), ok
}

// status formats the response status into the map's own buffer.
func (m *responseMap) status() string {
	m.buf = strconv.AppendInt(m.buf[:0], int64(m.x.Response.Status), 10)
	return bytesToString(m.buf)
}

func (m *responseMap) Len() int { return 1 + m.x.Response.Header.Len() }

func (m *responseMap) Range(fn func(name, value string) bool) {
	if !fn(":status", m.status()) {
		return
	}
	m.x.Response.Header.Range(func(k, v []byte) bool { return fn(bytesToString(k), bytesToString(v)) })
}

func (m *responseMap) Add(name, value string) {
	if name == ":status" {
		m.Set(name, value)
		return
	}
	m.x.Response.Header.Add(name, value)
}

func (m *responseMap) Set(name, value string) {
	if name == ":status" {
		if n, err := strconv.Atoi(value); err == nil && n >= 100 && n <= 599 {
			m.x.Response.Status = n
		}
		return
	}
	if !strings.HasPrefix(name, ":") {
		m.x.Response.Header.Set(name, value)
	}
}

func (m *responseMap) Del(name string) {
	if !strings.HasPrefix(name, ":") {
		m.x.Response.Header.Del(name)
	}
}

// trailerMap is a trailer section as a header map: regular fields only.
type trailerMap struct{ h *exchange.Header }

func (m *trailerMap) Get(name string) (string, bool) {
	v, ok := m.h.Lookup(name)
	return bytesToString(v), ok
}

func (m *trailerMap) Len() int { return m.h.Len() }

func (m *trailerMap) Range(fn func(name, value string) bool) {
	m.h.Range(func(k, v []byte) bool { return fn(bytesToString(k), bytesToString(v)) })
}

func (m *trailerMap) Add(name, value string) {
	if !strings.HasPrefix(name, ":") {
		m.h.Add(name, value)
	}
}

func (m *trailerMap) Set(name, value string) {
	if !strings.HasPrefix(name, ":") {
		m.h.Set(name, value)
	}
}

func (m *trailerMap) Del(name string) { m.h.Del(name) }

// Close releases the plugin's instance pool.
func (s *wasmStage) Close(ctx context.Context) error { return s.plugin.Close(ctx) }

// loadModule reads a filter module: builtin:NAME from the binary, otherwise
// a file path.
func loadModule(module string) ([]byte, error) {
	if name, ok := strings.CutPrefix(module, "builtin:"); ok {
		return filters.Module(name)
	}
	b, err := os.ReadFile(module)
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	return b, nil
}

// tlsProperty answers Envoy's connection.* attributes from the client's TLS
// facts (nil on plaintext connections).
func tlsProperty(t *exchange.TLS, name string) ([]byte, bool) {
	switch name {
	case "mtls":
		if t != nil && t.PeerVerified {
			return []byte{1}, true
		}
		return []byte{0}, true
	case "tls_version":
		if t == nil {
			return nil, false
		}
		return []byte(t.VersionName()), true
	case "requested_server_name":
		if t == nil {
			return nil, false
		}
		return []byte(t.ServerName), true
	case "subject_peer_certificate":
		if t == nil || t.PeerSubject == "" {
			return nil, false
		}
		return []byte(t.PeerSubject), true
	case "dns_san_peer_certificate":
		if t == nil || len(t.PeerDNSNames) == 0 {
			return nil, false
		}
		return []byte(t.PeerDNSNames[0]), true
	case "uri_san_peer_certificate":
		if t == nil || len(t.PeerURIs) == 0 {
			return nil, false
		}
		return []byte(t.PeerURIs[0]), true
	}
	return nil, false
}
