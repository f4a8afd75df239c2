// Command body is an example filter that works on bodies: it replaces
// "ping" with "pong" in request bodies and appends a line to response
// bodies. Configure it with a buffer_body size in wasmgate, so the gateway
// buffers bodies for it.
package main

import (
	"bytes"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

func init() { proxywasm.SetRootContext(newRoot) }

func main() {}

type root struct{ proxywasm.DefaultRootContext }

func newRoot(uint32) proxywasm.RootContext { return &root{} }

func (r *root) NewHTTPContext(s proxywasm.Stream) proxywasm.HTTPContext {
	return &filter{s: s}
}

type filter struct {
	proxywasm.DefaultHTTPContext
	s proxywasm.Stream
}

// trailer is appended to every response body the filter sees.
var trailer = []byte("-- seen by the body filter\n")

func (f *filter) OnRequestBody(size int, endOfStream bool) proxywasm.Action {
	if !endOfStream {
		return proxywasm.Pause // wait for the whole body
	}
	b, err := f.s.RequestBody().Bytes(0, size)
	if err != nil {
		proxywasm.LogError("body: read request body: " + err.Error())
		return proxywasm.Continue
	}
	if bytes.Contains(b, []byte("ping")) {
		if err := f.s.RequestBody().Replace(bytes.ReplaceAll(b, []byte("ping"), []byte("pong"))); err != nil {
			proxywasm.LogError("body: replace request body: " + err.Error())
		}
	}
	return proxywasm.Continue
}

func (f *filter) OnResponseBody(size int, endOfStream bool) proxywasm.Action {
	if !endOfStream {
		return proxywasm.Pause
	}
	if err := f.s.ResponseBody().Append(trailer); err != nil {
		proxywasm.LogError("body: append to response body: " + err.Error())
	}
	return proxywasm.Continue
}
