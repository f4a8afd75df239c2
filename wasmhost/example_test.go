package wasmhost_test

import (
	"context"
	"fmt"
	"os"

	"github.com/wasmgate/wasmgate/wasmhost"
)

// exchangeStream shows how an embedder adapts its own request/response type
// to wasmhost.Stream; here the "exchange" is just two header lists.
type exchangeStream struct {
	req, resp headers
	local     *wasmhost.LocalResponse
}

func (x *exchangeStream) HeaderMap(t wasmhost.MapType) wasmhost.HeaderMap {
	switch t {
	case wasmhost.RequestHeaders:
		return &x.req
	case wasmhost.ResponseHeaders:
		if x.resp != nil {
			return &x.resp
		}
	}
	return nil // no trailers
}
func (x *exchangeStream) Body(wasmhost.BodyKind) []byte              { return nil }
func (x *exchangeStream) SetBody(wasmhost.BodyKind, []byte) error    { return fmt.Errorf("no body") }
func (x *exchangeStream) Property([]string) ([]byte, bool)           { return nil, false }
func (x *exchangeStream) SetProperty([]string, []byte) error         { return fmt.Errorf("read-only") }
func (x *exchangeStream) SendLocalResponse(r wasmhost.LocalResponse) { x.local = &r }

func Example() {
	ctx := context.Background()
	host, err := wasmhost.NewHost(wasmhost.HostConfig{})
	if err != nil {
		panic(err)
	}
	defer host.Close(ctx)

	wasm, err := os.ReadFile("testdata/bench.wasm")
	if err != nil {
		panic(err)
	}
	plugin, err := host.Load(ctx, wasmhost.PluginConfig{Name: "headers", Wasm: wasm, PoolSize: 2})
	if err != nil {
		panic(err) // errors.Is(err, wasmhost.ErrNoABIMarker) etc. → a diagnostic on "module"
	}

	// Per request:
	x := &exchangeStream{req: headers{{":method", "GET"}, {":path", "/"}, {"x-in", "1"}}}
	hc, err := plugin.NewHTTPContext(ctx, x)
	if err != nil {
		panic(err)
	}
	defer hc.Done(ctx) // after the access log line, if filters may read it

	if a, err := hc.OnRequestHeaders(ctx, true); err != nil || a != wasmhost.ActionContinue {
		fmt.Println("stop or fail:", a, err) // apply the filter's fail policy / send x.local
		return
	}
	// ... proxy to the upstream ...
	x.resp = headers{{":status", "200"}}
	if _, err := hc.OnResponseHeaders(ctx, true); err != nil {
		panic(err)
	}
	v, _ := x.resp.Get("x-out")
	fmt.Println("x-out:", v)
	// Output: x-out: wasm
}
