package proxywasm_test

import (
	"time"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// authRoot and authFilter ask an auth service about every request and hold
// the request until it answers.
type authRoot struct{ proxywasm.DefaultRootContext }

func (authRoot) NewHTTPContext(s proxywasm.Stream) proxywasm.HTTPContext {
	return &authFilter{s: s}
}

type authFilter struct {
	proxywasm.DefaultHTTPContext
	s proxywasm.Stream
}

func (f *authFilter) OnRequestHeaders(int, bool) proxywasm.Action {
	token, _ := f.s.RequestHeaders().Get("authorization")
	_, err := proxywasm.DispatchHTTPCall("auth", [][2]string{
		{":method", "GET"}, {":path", "/check"}, {":authority", "auth.internal"},
		{"authorization", token},
	}, nil, time.Second, func(r proxywasm.HTTPCallResponse) {
		if r.Status() != 200 {
			_ = f.s.SendLocalResponse(401, []byte("unauthorized\n"), nil)
			return
		}
		if consumer, ok := r.Headers().Get("x-consumer"); ok {
			_ = f.s.SetAttribute(proxywasm.AttributeConsumer, consumer)
		}
		_ = f.s.ContinueRequest()
	})
	if err != nil {
		_ = f.s.SendLocalResponse(503, nil, nil)
	}
	return proxywasm.Pause
}

// A filter registers its root context from init; main stays empty.
func ExampleSetRootContext() {
	proxywasm.SetRootContext(func(uint32) proxywasm.RootContext { return authRoot{} })
}
