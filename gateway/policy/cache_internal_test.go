package policy

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasmgate/wasmgate/gateway/exchange"
)

func stageFrom(t *testing.T, src string, cacheSize int) *Stage {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.rego")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), Config{Name: "t", Files: []string{p}, CacheSize: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCacheableDetection(t *testing.T) {
	tests := []struct {
		name, src string
		size      int
		cached    bool
	}{
		{"deterministic", `package wasmgate.authz
decision := input.consumer == "bob"`, 0, true},
		{"disabled", `package wasmgate.authz
decision := input.consumer == "bob"`, -1, false},
		{"clock", `package wasmgate.authz
decision := time.now_ns() > 0`, 0, false},
		{"clock in a function", `package wasmgate.authz
f(x) := time.now_ns() + x
decision if f(1) > 0`, 0, false},
		{"jwt verification", `package wasmgate.authz
decision if {
	[ok, _, _] := io.jwt.decode_verify(input.request.headers.authorization, {"secret": "s"})
	ok
}`, 0, false},
		{"http.send", `package wasmgate.authz
decision := http.send({"method": "GET", "url": "http://127.0.0.1:1"}).status_code == 200`, 0, false},
		{"request id", `package wasmgate.authz
decision := input.request.id != ""`, 0, false},
		{"tls", `package wasmgate.authz
decision := count(input.tls) == 0`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stageFrom(t, tt.src, tt.size)
			if (s.cache != nil) != tt.cached {
				t.Errorf("cached = %v, want %v", s.cache != nil, tt.cached)
			}
		})
	}
}

// TestCacheKeys checks that a cached stage answers every distinct input
// field combination for itself.
func TestCacheKeys(t *testing.T) {
	s := stageFrom(t, `package wasmgate.authz
default sub := "-"
sub := input.claims.sub
decision := {"allow": false, "body": sprintf("%v %v %v %v %v %v", [
	input.request.method, input.request.path, input.consumer,
	input.source, sub, input.request.headers])}
`, 0)
	if s.cache == nil {
		t.Fatal("not cached")
	}
	base := func(x *exchange.Exchange) {
		x.Reset()
		x.Request.SetMethod("GET")
		x.Request.SetPath("/a?x=1")
		x.Request.Header.Add("h", "1")
		x.Consumer = "bob"
		x.Source = netip.MustParseAddrPort("10.0.0.1:1000")
	}
	variants := []func(x *exchange.Exchange){
		func(x *exchange.Exchange) {},
		func(x *exchange.Exchange) { x.Request.SetMethod("POST") },
		func(x *exchange.Exchange) { x.Request.SetPath("/b") },
		func(x *exchange.Exchange) { x.Request.SetPath("/a?x=2") }, // query not read: same as the first
		func(x *exchange.Exchange) { x.Consumer = "alice" },
		func(x *exchange.Exchange) { x.Consumer = "" },
		func(x *exchange.Exchange) { x.Source = netip.MustParseAddrPort("10.0.0.1:1001") },
		func(x *exchange.Exchange) { x.Source = netip.MustParseAddrPort("[::1]:1000") },
		func(x *exchange.Exchange) { x.SetAttr("claims", []byte(`{"sub":"s"}`)) },
		func(x *exchange.Exchange) { x.Request.Header.Add("h", "2") },
		func(x *exchange.Exchange) { x.Request.Header.Set("h", "12") },
	}
	for round := range 2 { // the second round is answered from the cache
		for i, v := range variants {
			var x exchange.Exchange
			base(&x)
			v(&x)
			got, err := s.Evaluate(context.Background(), &x)
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.evaluate(context.Background(), &x)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Body) != string(want.Body) {
				t.Errorf("round %d variant %d: cached %q, evaluated %q", round, i, got.Body, want.Body)
			}
		}
	}
}

func TestCacheBounded(t *testing.T) {
	s := stageFrom(t, "package wasmgate.authz\ndecision := input.request.path == \"/\"\n", 16)
	for i := range 100 {
		var x exchange.Exchange
		x.Request.SetMethod("GET")
		x.Request.SetPath(fmt.Sprintf("/%d", i))
		if _, err := s.Evaluate(context.Background(), &x); err != nil {
			t.Fatal(err)
		}
		if n := len(s.cache.m); n > 16 {
			t.Fatalf("%d entries in a cache of 16", n)
		}
	}
}

func TestFailuresNotCached(t *testing.T) {
	s := stageFrom(t, "package wasmgate.authz\ndecision := input.consumer == \"bob\" if input.request.path == \"/\"\n", 0)
	var x exchange.Exchange
	x.Request.SetPath("/undefined")
	for range 2 {
		if _, err := s.Evaluate(context.Background(), &x); err == nil {
			t.Fatal("undefined decision did not fail")
		}
	}
	if len(s.cache.m) != 0 {
		t.Errorf("%d failures cached", len(s.cache.m))
	}
}
