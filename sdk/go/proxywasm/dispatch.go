package proxywasm

import "github.com/wasmgate/wasmgate/sdk/go/internal/abi"

// SetRootContext registers the factory that creates a root context for every
// plugin the host starts. Call it exactly once, from func init of the
// filter's main package. Calling it again discards all existing contexts
// (the fake host in proxywasmtest relies on that).
func SetRootContext(newRoot func(id uint32) RootContext) {
	v := &dispatcher{
		newRoot:  newRoot,
		roots:    make(map[uint32]RootContext),
		callouts: make(map[calloutKey]callout),
	}
	active = v
	abi.SetGuest(v)
}

// active is the dispatcher of this module instance. A Wasm instance is one
// process with one thread, so a package-level dispatcher is its natural home.
var active *dispatcher

type streamEntry struct {
	ctx  HTTPContext // nil: pass through
	root uint32
}

type calloutKey struct{ root, token uint32 }

type callout struct {
	caller uint32
	fn     func(HTTPCallResponse)
}

var _ abi.Guest = (*dispatcher)(nil)

// dispatcher routes host callbacks to the user's contexts and remembers which
// context the host currently considers effective.
type dispatcher struct {
	newRoot  func(id uint32) RootContext
	roots    map[uint32]RootContext
	streams  streamTable
	callouts map[calloutKey]callout
	current  uint32
	// lastRootID and lastRoot remember the root context the last HTTP
	// context was created under: a plugin has one, and a map lookup per
	// request costs more than it should in a Wasm guest.
	lastRootID uint32
	lastRoot   RootContext
}

// ensure makes id the host's effective context.
func ensure(id uint32) error {
	v := active
	if v != nil && v.current == id {
		return nil
	}
	if err := statusErr(host().SetEffectiveContext(id)); err != nil {
		return err
	}
	if v != nil {
		v.current = id
	}
	return nil
}

// currentContext returns the context on whose behalf the SDK acts.
func currentContext() uint32 {
	if active == nil {
		return 0
	}
	return active.current
}

// rootOf returns the root context of id (id itself for a root).
func (v *dispatcher) rootOf(id uint32) uint32 {
	if e, ok := v.streams.get(id); ok {
		return e.root
	}
	return id
}

func (v *dispatcher) alive(id uint32) bool {
	if _, ok := v.streams.get(id); ok {
		return true
	}
	_, ok := v.roots[id]
	return ok
}

func (v *dispatcher) OnContextCreate(id, parent uint32) {
	v.current = id
	if parent == 0 {
		var r RootContext
		if v.newRoot != nil {
			r = v.newRoot(id)
		}
		if r == nil {
			r = DefaultRootContext{}
		}
		v.roots[id] = r
		return
	}
	r, ok := v.lastRoot, parent == v.lastRootID && v.lastRoot != nil
	if !ok {
		r, ok = v.roots[parent]
		v.lastRootID, v.lastRoot = parent, r
	}
	if !ok {
		LogError("proxywasm: context created under an unknown root context")
		v.streams.put(id, streamEntry{root: parent})
		return
	}
	v.streams.put(id, streamEntry{ctx: r.NewHTTPContext(Stream{id: id}), root: parent})
}

func (v *dispatcher) root(id uint32) RootContext {
	v.current = id
	if r, ok := v.roots[id]; ok {
		return r
	}
	return DefaultRootContext{}
}

func (v *dispatcher) OnVMStart(id uint32, size int) bool {
	r := v.root(id)
	return r.OnVMStart(config(abi.BufferVMConfiguration, size))
}

func (v *dispatcher) OnConfigure(id uint32, size int) bool {
	r := v.root(id)
	if !r.OnConfigure(config(abi.BufferPluginConfig, size)) {
		return false
	}
	if d, ok := r.(HTTPCallbackDeclarer); ok {
		// A host that does not know the property may refuse it: the
		// declaration is a hint, so that is no failure.
		_ = setProperty([]string{AttributePrefix, "http_callbacks"}, []byte(d.HTTPCallbacks().list()))
	}
	return true
}

// list spells the set as the wasmgate.http_callbacks property wants it.
func (c HTTPCallback) list() string {
	var b []byte
	for i, name := range []string{"request_headers", "request_body", "request_trailers",
		"response_headers", "response_body", "response_trailers", "log"} {
		if c&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = append(b, name...)
		}
	}
	return string(b)
}

func config(t abi.BufferType, size int) []byte {
	if size <= 0 {
		return nil
	}
	b, _ := host().GetBuffer(t, 0, size, false)
	return b
}

func (v *dispatcher) OnTick(id uint32) { v.root(id).OnTick() }

func (v *dispatcher) OnQueueReady(id, q uint32) { v.root(id).OnQueueReady(Queue(q)) }

func (v *dispatcher) http(id uint32) HTTPContext {
	v.current = id
	e, _ := v.streams.get(id)
	return e.ctx
}

func (v *dispatcher) OnRequestHeaders(id uint32, n int, eos bool) uint32 {
	if c := v.http(id); c != nil {
		return uint32(c.OnRequestHeaders(n, eos))
	}
	return abi.ActionContinue
}

func (v *dispatcher) OnRequestBody(id uint32, size int, eos bool) uint32 {
	if c := v.http(id); c != nil {
		return uint32(c.OnRequestBody(size, eos))
	}
	return abi.ActionContinue
}

func (v *dispatcher) OnRequestTrailers(id uint32, n int) uint32 {
	if c := v.http(id); c != nil {
		return uint32(c.OnRequestTrailers(n))
	}
	return abi.ActionContinue
}

func (v *dispatcher) OnResponseHeaders(id uint32, n int, eos bool) uint32 {
	if c := v.http(id); c != nil {
		return uint32(c.OnResponseHeaders(n, eos))
	}
	return abi.ActionContinue
}

func (v *dispatcher) OnResponseBody(id uint32, size int, eos bool) uint32 {
	if c := v.http(id); c != nil {
		return uint32(c.OnResponseBody(size, eos))
	}
	return abi.ActionContinue
}

func (v *dispatcher) OnResponseTrailers(id uint32, n int) uint32 {
	if c := v.http(id); c != nil {
		return uint32(c.OnResponseTrailers(n))
	}
	return abi.ActionContinue
}

func (v *dispatcher) OnHTTPCallResponse(id, token uint32, headers, bodySize, trailers int) {
	v.current = id
	key := calloutKey{root: v.rootOf(id), token: token}
	c, ok := v.callouts[key]
	if !ok {
		return
	}
	delete(v.callouts, key)
	if !v.alive(c.caller) {
		return // the caller finished before the response arrived
	}
	resp := HTTPCallResponse{NumHeaders: headers, BodySize: bodySize, NumTrailers: trailers, ctx: id}
	if ensure(c.caller) != nil {
		return
	}
	c.fn(resp)
}

func (v *dispatcher) OnDone(id uint32) bool {
	if _, ok := v.streams.get(id); ok {
		return true // an HTTP context: nothing to finish
	}
	if r, ok := v.roots[id]; ok {
		v.current = id
		return r.OnDone()
	}
	return true
}

func (v *dispatcher) OnLog(id uint32) {
	if c := v.http(id); c != nil {
		c.OnLog()
	}
}

func (v *dispatcher) OnDelete(id uint32) {
	if e, ok := v.streams.get(id); ok {
		v.streams.del(id)
		if d, ok := e.ctx.(HTTPContextDeleter); ok {
			d.OnDelete()
		}
		return
	}
	delete(v.roots, id)
	if id == v.lastRootID {
		v.lastRootID, v.lastRoot = 0, nil
	}
}
