package wasmhost_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wasmgate/wasmgate/wasmhost"
)

// TestHTTPCallbacksDeclaration: a root context that declares the HTTP
// callbacks its contexts act on (wasmgate.http_callbacks) gets only those,
// plus proxy_on_context_create and proxy_on_delete; without a declaration
// it gets them all; a declaration naming an unknown callback is refused.
func TestHTTPCallbacksDeclaration(t *testing.T) {
	all := []string{"context_create", "request_headers", "request_body", "request_trailers",
		"response_headers", "response_body", "response_trailers", "done", "log", "delete"}
	for _, tc := range []struct {
		declare string
		want    []string // the callbacks made, in all's order
	}{
		{"", all},
		{"request_headers", []string{"context_create", "request_headers", "delete"}},
		{"response_headers, log", []string{"context_create", "response_headers", "done", "log", "delete"}},
		{",", []string{"context_create", "delete"}},
		{"request_body,request_trailers,response_body,response_trailers",
			[]string{"context_create", "request_body", "request_trailers", "response_body", "response_trailers", "delete"}},
	} {
		t.Run(tc.declare, func(t *testing.T) {
			e := newEnv(t)
			p := e.load(t, wasmhost.PluginConfig{Wasm: readWasm(t, "callbacks"), PluginConfig: []byte(tc.declare)})
			ctx := context.Background()
			s := newStream()
			s.bodies[wasmhost.RequestBody] = []byte("req")
			s.maps[wasmhost.RequestTrailers] = &headers{{"x-t", "1"}}
			c, err := p.NewHTTPContext(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			steps := []func() (wasmhost.Action, error){
				func() (wasmhost.Action, error) { return c.OnRequestHeaders(ctx, false) },
				func() (wasmhost.Action, error) { return c.OnRequestBody(ctx, true) },
				func() (wasmhost.Action, error) { return c.OnRequestTrailers(ctx) },
				func() (wasmhost.Action, error) {
					s.respond()
					s.bodies[wasmhost.ResponseBody] = []byte("resp")
					s.maps[wasmhost.ResponseTrailers] = &headers{{"x-t", "2"}}
					return c.OnResponseHeaders(ctx, false)
				},
				func() (wasmhost.Action, error) { return c.OnResponseBody(ctx, true) },
				func() (wasmhost.Action, error) { return c.OnResponseTrailers(ctx) },
			}
			for i, step := range steps {
				if a, err := step(); err != nil || a != wasmhost.ActionContinue {
					t.Fatalf("step %d: %v %v", i, a, err)
				}
			}
			c.Done(ctx)
			var got []string
			logs := e.logs.String()
			for _, cb := range all {
				if strings.Contains(logs, "msg="+cb+" ") {
					got = append(got, cb)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("callbacks made: %v\nwant: %v", got, tc.want)
			}
		})
	}
	t.Run("unknown callback", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.host.Load(context.Background(), wasmhost.PluginConfig{Name: "bad", Wasm: readWasm(t, "callbacks"),
			PluginConfig: []byte("request_headers,bogus")})
		if err == nil {
			t.Fatal("a declaration of an unknown callback was accepted")
		}
	})
}
