package wasmhost_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wasmgate/wasmgate/wasmhost"
)

// callbackNames are the callbacks testdata/callbacks.wat logs.
var callbackNames = []string{"context_create", "request_headers", "request_body", "request_trailers",
	"response_headers", "response_body", "response_trailers", "done", "log", "delete"}

// callbackCounts counts the callbacks the callbacks filter logged.
func callbackCounts(logs string) map[string]int {
	n := map[string]int{}
	for _, cb := range callbackNames {
		if c := strings.Count(logs, "msg="+cb+" "); c > 0 {
			n[cb] = c
		}
	}
	return n
}

// fullRequest runs every HTTP callback of one request through c.
func fullRequest(t *testing.T, p *wasmhost.Plugin) {
	t.Helper()
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
}

// TestHTTPCallbacksDeclaration: a root context that declares the HTTP
// callbacks its contexts act on (wasmgate.http_callbacks) gets only those.
// Its guest context is created with the first of them (never, when none
// comes), and when it does not log, proxy_on_delete is deferred to its
// next entry into the instance (or its shutdown). Without a declaration it
// gets every callback at once; a declaration naming an unknown callback
// is refused.
func TestHTTPCallbacksDeclaration(t *testing.T) {
	for _, tc := range []struct {
		declare string
		// after two requests; after closing the plugin, the root
		// context's done and delete come too, and deferred deletes are
		// flushed (wantDeferred of them)
		want         map[string]int
		wantDeferred int
	}{
		{"", map[string]int{"context_create": 2, "request_headers": 2, "request_body": 2, "request_trailers": 2,
			"response_headers": 2, "response_body": 2, "response_trailers": 2, "done": 2, "log": 2, "delete": 2}, 0},
		{"request_headers", map[string]int{"context_create": 2, "request_headers": 2, "delete": 1}, 1},
		{"response_headers, log", map[string]int{"context_create": 2, "response_headers": 2, "done": 2, "log": 2, "delete": 2}, 0},
		{",", map[string]int{}, 0},
		{"request_body,request_trailers,response_body,response_trailers",
			map[string]int{"context_create": 2, "request_body": 2, "request_trailers": 2, "response_body": 2, "response_trailers": 2, "delete": 1}, 1},
	} {
		t.Run(tc.declare, func(t *testing.T) {
			e := newEnv(t)
			p := e.load(t, wasmhost.PluginConfig{Wasm: readWasm(t, "callbacks"), PluginConfig: []byte(tc.declare)})
			fullRequest(t, p)
			fullRequest(t, p)
			if got := callbackCounts(e.logs.String()); !equalCounts(got, tc.want) {
				t.Errorf("callbacks made: %v\nwant: %v", got, tc.want)
			}
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := map[string]int{}
			for k, v := range tc.want {
				want[k] = v
			}
			want["done"]++
			want["delete"] += 1 + tc.wantDeferred
			if got := callbackCounts(e.logs.String()); !equalCounts(got, want) {
				t.Errorf("after Close: callbacks made: %v\nwant: %v", got, want)
			}
		})
	}
	t.Run("deferred deletes are bounded", func(t *testing.T) {
		e := newEnv(t)
		p := e.load(t, wasmhost.PluginConfig{Wasm: readWasm(t, "callbacks"), PluginConfig: []byte("request_headers")})
		ctx := context.Background()
		var cs []*wasmhost.HTTPContext
		for range 20 {
			c, _, err := requestHeaders(t, ctx, p, newStream())
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		for _, c := range cs {
			c.Done(ctx)
		}
		if got := callbackCounts(e.logs.String())["delete"]; got != 16 {
			t.Errorf("%d deletes after 20 streams ended with no entry in between, want 16 (the bound)", got)
		}
	})
	t.Run("unknown callback", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.host.Load(context.Background(), wasmhost.PluginConfig{Name: "bad", Wasm: readWasm(t, "callbacks"),
			PluginConfig: []byte("request_headers,bogus")})
		if err == nil {
			t.Fatal("a declaration of an unknown callback was accepted")
		}
	})
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestReturnBuffer: a guest that offers a return buffer
// (wasmgate_return_buffer) gets results that fit written there, without a
// call to its allocator, and larger ones in memory from its allocator.
func TestReturnBuffer(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{Wasm: readWasm(t, "retbuf")})
	for _, tc := range []struct{ in, where string }{
		{"short", "buf"},
		{"exactly 16 bytes", "buf"},
		{"seventeen bytes!!", "heap"},
		{strings.Repeat("long ", 100), "heap"},
	} {
		s := newStream("x-in", tc.in)
		c, _, err := requestHeaders(t, context.Background(), p, s)
		if err != nil {
			t.Fatal(err)
		}
		c.Done(context.Background())
		if got, where := s.req("x-val"), s.req("x-where"); got != tc.in || where != tc.where {
			t.Errorf("x-in %q: read %q from %s, want it from %s", tc.in, got, where, tc.where)
		}
	}
}
