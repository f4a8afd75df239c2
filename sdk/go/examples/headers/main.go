// Command headers is an example wasmgate filter: it denies requests that
// carry "x-deny: 1" with a local 403, and tags every response with the
// request's user agent in x-seen-agent (header name configurable).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o headers.wasm .
package main

import (
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// A c-shared Wasm module runs package initialisers but never main, so the
// filter registers itself here.
func init() { proxywasm.SetRootContext(newRoot) }

func main() {}

// root holds the plugin configuration: the name of the response header to
// add (the whole configuration, "x-seen-agent" when empty).
type root struct {
	proxywasm.DefaultRootContext
	header string
}

func newRoot(uint32) proxywasm.RootContext { return &root{header: "x-seen-agent"} }

func (r *root) OnConfigure(config []byte) bool {
	if len(config) > 0 {
		r.header = string(config)
	}
	return true
}

func (r *root) NewHTTPContext(s proxywasm.Stream) proxywasm.HTTPContext {
	return &filter{s: s, header: r.header}
}

// filter handles one request.
type filter struct {
	proxywasm.DefaultHTTPContext
	s      proxywasm.Stream
	header string
	agent  string
}

var denied = [][2]string{{"content-type", "text/plain"}}

func (f *filter) OnRequestHeaders(int, bool) proxywasm.Action {
	h := f.s.RequestHeaders()
	if v, _ := h.Get("x-deny"); v == "1" {
		if err := f.s.SendLocalResponse(403, []byte("denied\n"), denied); err != nil {
			proxywasm.LogError("headers: local response: " + err.Error())
			return proxywasm.Continue
		}
		return proxywasm.Pause
	}
	f.agent, _ = h.Get("user-agent")
	return proxywasm.Continue
}

func (f *filter) OnResponseHeaders(int, bool) proxywasm.Action {
	if f.agent != "" {
		if err := f.s.ResponseHeaders().Add(f.header, f.agent); err != nil {
			proxywasm.LogWarn("headers: add response header: " + err.Error())
		}
	}
	return proxywasm.Continue
}
