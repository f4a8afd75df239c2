// Package headers is wasmgate's built-in header rewrite filter
// (builtin:headers): it removes, sets and adds request and response headers
// whose values may use variables such as ${client_ip}, ${route},
// ${upstream}, ${consumer} and ${request_id}, read from host properties.
//
// The configuration schema is documented in filters/README.md.
//
// The package is a library: cmd/headers is the filter as a module of its own,
// and filters/builtin links it with the other built-in filters into the
// one module the gateway embeds (see filters/README.md).
package headers

import (
	"strings"
	"unsafe"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// root holds the compiled configuration.
type root struct {
	proxywasm.DefaultRootContext
	cfg *compiled
	// free holds contexts of finished requests for reuse: a fresh one is
	// a 300-byte allocation on every request.
	free []*httpContext
}

// maxFree bounds the contexts a root keeps for reuse.
const maxFree = 64

func newRoot(uint32) proxywasm.RootContext { return &root{} }

// NewRoot creates the filter's root context: the factory to pass to
// proxywasm.SetRootContext.
func NewRoot(contextID uint32) proxywasm.RootContext { return newRoot(contextID) }

// OnConfigure compiles the configuration; a bad one is rejected (and the
// previous one, if any, kept).
func (r *root) OnConfigure(config []byte) bool {
	c, err := parseConfig(config)
	if err != nil {
		proxywasm.LogError(err.Error())
		return false
	}
	r.cfg = c
	return true
}

// HTTPCallbacks tells the host which headers callbacks requests need: those
// of the directions the configuration changes.
func (r *root) HTTPCallbacks() proxywasm.HTTPCallback {
	var cb proxywasm.HTTPCallback
	if r.cfg != nil && r.cfg.request != nil {
		cb |= proxywasm.CallRequestHeaders
	}
	if r.cfg != nil && r.cfg.response != nil {
		cb |= proxywasm.CallResponseHeaders
	}
	return cb
}

func (r *root) NewHTTPContext(s proxywasm.Stream) proxywasm.HTTPContext {
	if r.cfg == nil || r.cfg.request == nil && r.cfg.response == nil {
		return nil
	}
	if n := len(r.free); n > 0 {
		c := r.free[n-1]
		r.free = r.free[:n-1]
		c.s, c.cfg = s, r.cfg
		return c
	}
	return &httpContext{s: s, cfg: r.cfg, r: r}
}

// maxVars bounds the variables a request can cache.
const maxVars = 16

// httpContext applies the operations to one request and its response,
// reading each variable at most once.
type httpContext struct {
	proxywasm.DefaultHTTPContext
	s      proxywasm.Stream
	cfg    *compiled
	r      *root
	loaded uint32
	vals   [maxVars]string
}

// OnDelete ends a request: the context goes back to its root for the next
// one, with the values it read dropped.
func (c *httpContext) OnDelete() {
	c.loaded, c.vals, c.s, c.cfg = 0, [maxVars]string{}, proxywasm.Stream{}, nil
	if len(c.r.free) < maxFree {
		c.r.free = append(c.r.free, c)
	}
}

func (c *httpContext) OnRequestHeaders(int, bool) proxywasm.Action {
	if c.cfg.request != nil {
		c.apply(c.s.RequestHeaders(), c.cfg.request)
	}
	return proxywasm.Continue
}

func (c *httpContext) OnResponseHeaders(int, bool) proxywasm.Action {
	if c.cfg.response != nil {
		c.apply(c.s.ResponseHeaders(), c.cfg.response)
	}
	return proxywasm.Continue
}

func (c *httpContext) apply(m proxywasm.HeaderMap, o *ops) {
	for _, name := range o.remove {
		if err := m.Remove(name); err != nil {
			proxywasm.LogWarn("headers: remove " + name + ": " + err.Error())
		}
	}
	for i := range o.set {
		if err := m.Set(o.set[i].name, c.expand(&o.set[i].value)); err != nil {
			proxywasm.LogWarn("headers: set " + o.set[i].name + ": " + err.Error())
		}
	}
	for i := range o.add {
		if err := m.Add(o.add[i].name, c.expand(&o.add[i].value)); err != nil {
			proxywasm.LogWarn("headers: add " + o.add[i].name + ": " + err.Error())
		}
	}
}

// expand returns the value of t for this request; a variable whose
// property is unset is empty.
func (c *httpContext) expand(t *template) string {
	if t.segs == nil {
		return t.literal
	}
	if len(t.segs) == 1 {
		return c.variable(t.segs[0].v)
	}
	var b strings.Builder
	for _, sg := range t.segs {
		if sg.v < 0 {
			b.WriteString(sg.lit)
		} else {
			b.WriteString(c.variable(sg.v))
		}
	}
	return b.String()
}

func (c *httpContext) variable(i int) string {
	if c.loaded&(1<<i) != 0 {
		return c.vals[i]
	}
	v := c.cfg.vars[i]
	b, err := c.s.Property(v.path...)
	val := ""
	if err == nil && len(b) > 0 {
		val = unsafe.String(&b[0], len(b)) // b is ours: no copy
		if v.ip {
			val = hostOf(val)
		}
	}
	c.vals[i] = val
	c.loaded |= 1 << i
	return val
}

// hostOf strips the port of "1.2.3.4:5678" or "[::1]:5678"; anything else
// is returned as is.
func hostOf(addr string) string {
	if strings.HasPrefix(addr, "[") {
		if end := strings.IndexByte(addr, ']'); end > 0 {
			return addr[1:end]
		}
		return addr
	}
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && strings.IndexByte(addr, ':') == i {
		return addr[:i]
	}
	return addr
}
