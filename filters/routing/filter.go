// Package routing is wasmgate's built-in routing filter (builtin:routing):
// it matches each request against the route table in its configuration and
// selects an upstream, rewrites, redirects or answers directly.
//
// It tells the gateway what it decided through per-request properties:
//
//	wasmgate.route           name of the matched route
//	wasmgate.upstream        upstream to forward to
//	wasmgate.mirror          upstream that should get a copy of the request
//	wasmgate.timeout         response timeout override, a Go duration ("2.5s")
//	wasmgate.retry_attempts  retry attempts override, decimal ("2")
//
// The configuration schema is documented in filters/README.md.
//
// The package is a library: cmd/routing is the filter as a module of its own,
// and filters/builtin links it with the other built-in filters into the
// one module the gateway embeds (see filters/README.md).
package routing

import (
	"strconv"
	"strings"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// Property names (under proxywasm.AttributePrefix) beyond the SDK's.
const (
	attrMirror  = "mirror"
	attrTimeout = "timeout"
	attrRetry   = "retry_attempts"
)

// root holds the compiled route table of one plugin configuration.
type root struct {
	proxywasm.DefaultRootContext
	table *table
	free  []*httpContext // contexts of finished requests, for reuse
}

// maxFree bounds the contexts a root keeps for reuse.
const maxFree = 64

func newRoot(uint32) proxywasm.RootContext { return &root{} }

// NewRoot creates the filter's root context: the factory to pass to
// proxywasm.SetRootContext.
func NewRoot(contextID uint32) proxywasm.RootContext { return newRoot(contextID) }

// OnConfigure compiles the configuration; a bad one is rejected (and the
// previous table, if any, kept).
func (r *root) OnConfigure(config []byte) bool {
	t, err := parseConfig(config)
	if err != nil {
		proxywasm.LogError(err.Error())
		return false
	}
	r.table = t
	return true
}

// HTTPCallbacks tells the host that requests need OnRequestHeaders only.
func (r *root) HTTPCallbacks() proxywasm.HTTPCallback { return proxywasm.CallRequestHeaders }

func (r *root) NewHTTPContext(s proxywasm.Stream) proxywasm.HTTPContext {
	if r.table == nil {
		return nil
	}
	if n := len(r.free); n > 0 {
		c := r.free[n-1]
		r.free = r.free[:n-1]
		c.s, c.t = s, r.table
		return c
	}
	return &httpContext{s: s, t: r.table, r: r}
}

// httpContext routes one request.
type httpContext struct {
	proxywasm.DefaultHTTPContext
	s proxywasm.Stream
	t *table
	r *root
}

// OnDelete ends a request: the context goes back to its root for the next
// one (an allocation per request costs more than the rest of the callback
// in a Wasm guest).
func (c *httpContext) OnDelete() {
	c.s, c.t = proxywasm.Stream{}, nil
	if len(c.r.free) < maxFree {
		c.r.free = append(c.r.free, c)
	}
}

func (c *httpContext) OnRequestHeaders(int, bool) proxywasm.Action {
	h := c.s.RequestHeaders()
	// Each header read is a host call and an allocation, which a Wasm
	// guest pays dearly for: the host only when some route is bound to
	// hosts, the method only when some match tests it.
	rawPath, _ := h.Get(":path")
	path, query, hasQuery := strings.Cut(rawPath, "?")
	req := request{path: path, query: query, headers: h}
	var port string
	readHost := len(c.t.exact) > 0 || len(c.t.wildcard) > 0
	if readHost {
		authority, _ := h.Get(":authority")
		req.host, port = splitAuthority(authority)
	}
	if c.t.needMethod {
		req.method, _ = h.Get(":method")
	}

	e := c.t.lookup(&req)
	if e == nil {
		if c.t.defaultUpstream != "" {
			c.set(proxywasm.AttributeUpstream, c.t.defaultUpstream)
			return proxywasm.Continue
		}
		return c.local(404, "no route\n", [][2]string{{"content-type", "text/plain; charset=utf-8"}, {"x-wasmgate-reason", "no route"}})
	}
	rt := e.route
	c.set(proxywasm.AttributeRoute, rt.name)
	switch {
	case rt.redirect != nil:
		scheme, _ := h.Get(":scheme")
		if !readHost {
			authority, _ := h.Get(":authority")
			req.host, port = splitAuthority(authority)
		}
		loc := location(rt.redirect, e.m, scheme, req.host, port, path, query, hasQuery)
		return c.local(rt.redirect.Status, "", [][2]string{{"location", loc}})
	case rt.respond != nil:
		return c.local(rt.respond.Status, rt.respond.Body, rt.headers)
	}

	up, ok := rt.pick()
	if !ok {
		return c.local(503, "no upstream available\n", [][2]string{{"content-type", "text/plain; charset=utf-8"}, {"x-wasmgate-reason", "all route weights are 0"}})
	}
	c.set(proxywasm.AttributeUpstream, up)
	if rt.mirror != "" && rt.mirrorNow() {
		c.set(attrMirror, rt.mirror)
	}
	if rt.timeout != "" {
		c.set(attrTimeout, rt.timeout)
	}
	if rt.retry != "" {
		c.set(attrRetry, rt.retry)
	}
	if rt.rewritePath != "" || rt.hasRewritePrefix {
		head, rest := rt.rewritePath, ""
		if rt.hasRewritePrefix {
			head, rest = splitReplace(path, e.m.path, rt.rewritePrefix)
		}
		var np string
		if hasQuery {
			np = head + rest + "?" + query // one allocation
		} else {
			np = head + rest
		}
		if err := h.Set(":path", np); err != nil {
			proxywasm.LogError("routing: rewrite path: " + err.Error())
		}
	}
	if rt.rewriteHost != "" {
		if err := h.Set(":authority", rt.rewriteHost); err != nil {
			proxywasm.LogError("routing: rewrite host: " + err.Error())
		}
	}
	return proxywasm.Continue
}

// set sets the property wasmgate.<name>, logging a failure.
func (c *httpContext) set(name, value string) {
	if err := c.s.SetAttribute(name, value); err != nil {
		proxywasm.LogError("routing: set property wasmgate." + name + ": " + err.Error())
	}
}

// local answers the request with a local response.
func (c *httpContext) local(status int, body string, headers [][2]string) proxywasm.Action {
	if err := c.s.SendLocalResponse(status, []byte(body), headers); err != nil {
		proxywasm.LogError("routing: local response: " + err.Error())
		return proxywasm.Continue
	}
	return proxywasm.Pause
}

// pick selects an upstream by smooth weighted round robin (weights 5,1,1
// give a a b a c a a); false when every weight is 0.
func (r *route) pick() (string, bool) {
	if len(r.upstreams) == 1 {
		return r.upstreams[0], r.total > 0
	}
	if r.total == 0 {
		return "", false
	}
	best := -1
	for i, w := range r.weights {
		r.current[i] += w
		if w > 0 && (best < 0 || r.current[i] > r.current[best]) {
			best = i
		}
	}
	r.current[best] -= r.total
	return r.upstreams[best], true
}

// mirrorNow spreads mirrored requests evenly: exactly mirrorPct of every
// 100 consecutive requests of this instance are mirrored.
func (r *route) mirrorNow() bool {
	r.mirrorAcc += r.mirrorPct
	if r.mirrorAcc >= 100 {
		r.mirrorAcc -= 100
		return true
	}
	return false
}

// replacePrefix replaces the matched prefix (without trailing '/', "" for
// "/") of path with repl, never doubling or dropping the '/' between them:
// /v1/x with prefix /v1 becomes /x for repl "/" and /api/x for "/api".
func replacePrefix(path, prefix, repl string) string {
	head, rest := splitReplace(path, prefix, repl)
	return head + rest
}

// splitReplace returns the two halves of replacePrefix's result.
func splitReplace(path, prefix, repl string) (head, rest string) {
	rest = path[len(prefix):]
	switch {
	case rest != "":
		return strings.TrimSuffix(repl, "/"), rest
	case repl == "":
		return "/", ""
	}
	return repl, ""
}

// location builds a redirect's Location from the request's scheme, host,
// port, path and query, replacing what rd sets. Well-known ports (80 for
// http, 443 for https) are left out. A redirect that sets the scheme implies
// that scheme's well-known port unless it sets a port too (the Gateway
// API's HTTPRequestRedirect rule), so the request's port is dropped.
func location(rd *RedirectConfig, m *matcher, scheme, host, port, path, query string, hasQuery bool) string {
	if scheme == "" {
		scheme = "http"
	}
	if rd.Scheme != "" {
		scheme, port = rd.Scheme, ""
	}
	if rd.Host != "" {
		host = rd.Host
	}
	if rd.Port != 0 {
		port = strconv.Itoa(rd.Port)
	}
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	switch {
	case rd.Path != "":
		path = rd.Path
	case rd.Prefix != "":
		path = replacePrefix(path, m.path, rd.Prefix)
	}
	var b strings.Builder
	b.Grow(len(scheme) + 3 + len(host) + 1 + len(port) + len(path) + 1 + len(query))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(host)
	if port != "" {
		b.WriteByte(':')
		b.WriteString(port)
	}
	b.WriteString(path)
	if hasQuery && !rd.StripQuery {
		b.WriteByte('?')
		b.WriteString(query)
	}
	return b.String()
}
