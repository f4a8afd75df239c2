package wasmhost_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wasmgate/wasmgate/wasmhost"
)

// TestTrailers: the trailer callbacks run with the trailer maps, which the
// plugin reads and changes (replace, remove, add), after the headers and
// the body.
func TestTrailers(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{Wasm: readWasm(t, "trailers"), PluginConfig: []byte("A")})
	if rq, rs := p.HandlesTrailers(); !rq || !rs {
		t.Fatalf("HandlesTrailers = %v, %v; the module exports both", rq, rs)
	}
	if rq, rs := e.load(t, wasmhost.PluginConfig{Name: "plain"}).HandlesTrailers(); rq || rs {
		t.Fatalf("HandlesTrailers of a module without them = %v, %v", rq, rs)
	}
	ctx := context.Background()
	s := newStream()
	s.bodies[wasmhost.RequestBody] = []byte("body")
	c, err := p.NewHTTPContext(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Done(ctx)
	if _, err := c.OnRequestHeaders(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OnRequestBody(ctx, false); err != nil {
		t.Fatal(err)
	}
	s.maps[wasmhost.RequestTrailers] = &headers{{"x-req-trl", "v"}, {"x-req-trl-drop", "1"}, {"x-keep", "k"}}
	if a, err := c.OnRequestTrailers(ctx); err != nil || a != wasmhost.ActionContinue {
		t.Fatal(a, err)
	}
	if got, want := *s.maps[wasmhost.RequestTrailers], (headers{{"x-req-trl", "vA"}, {"x-keep", "k"}}); !equalHeaders(got, want) {
		t.Fatalf("request trailers %v, want %v", got, want)
	}
	if got := s.req("x-order"); got != "hbt" {
		t.Fatalf("callback order %q, want hbt (headers, body, trailers)", got)
	}
	s.respond()
	if _, err := c.OnResponseHeaders(ctx, false); err != nil {
		t.Fatal(err)
	}
	s.maps[wasmhost.ResponseTrailers] = &headers{{"grpc-status", "0"}, {"x-resp-trl", "w"}, {"x-resp-trl-drop", "1"}}
	if a, err := c.OnResponseTrailers(ctx); err != nil || a != wasmhost.ActionContinue {
		t.Fatal(a, err)
	}
	want := headers{{"grpc-status", "0"}, {"x-resp-trl", "wA"}, {"x-resp-trl-seen", "1"}}
	if got := *s.maps[wasmhost.ResponseTrailers]; !equalHeaders(got, want) {
		t.Fatalf("response trailers %v, want %v", got, want)
	}
}

// TestTrailerCallbackOutcomes: a trailers callback may answer locally,
// close the stream or trap, like any other.
func TestTrailerCallbackOutcomes(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{Wasm: readWasm(t, "trailers")})
	ctx := context.Background()
	run := func(mode string, response bool) (*stream, wasmhost.Action, error) {
		s := newStream()
		c, err := p.NewHTTPContext(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Done(ctx)
		if _, err := c.OnRequestHeaders(ctx, false); err != nil {
			t.Fatal(err)
		}
		trl := &headers{{"x-trl-mode", mode}}
		if !response {
			s.maps[wasmhost.RequestTrailers] = trl
			a, err := c.OnRequestTrailers(ctx)
			return s, a, err
		}
		s.respond()
		if _, err := c.OnResponseHeaders(ctx, false); err != nil {
			t.Fatal(err)
		}
		s.maps[wasmhost.ResponseTrailers] = trl
		a, err := c.OnResponseTrailers(ctx)
		return s, a, err
	}
	for _, response := range []bool{false, true} {
		s, a, err := run("l", response)
		if err != nil || a != wasmhost.ActionStop || s.local == nil || s.local.Status != 403 {
			t.Errorf("response=%v local: %v %v %+v", response, a, err, s.local)
		}
		if _, _, err := run("t", response); !errors.Is(err, wasmhost.ErrTrap) {
			t.Errorf("response=%v trap: %v", response, err)
		}
	}
	if _, a, err := run("x", true); err != nil || a != wasmhost.ActionReset {
		t.Errorf("close from response trailers: %v %v", a, err)
	}
}

// equalHeaders compares header lists regardless of order (the test map's
// Set moves a field to the end).
func equalHeaders(a, b headers) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	cmp := func(x, y [2]string) int { return strings.Compare(x[0]+"\x00"+x[1], y[0]+"\x00"+y[1]) }
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}
