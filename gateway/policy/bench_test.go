package policy_test

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/policy"
)

// benchExchange is a request as the h1 front end fills it: a browser-like
// set of headers, a consumer set by an auth filter.
func benchExchange(x *exchange.Exchange) {
	x.Reset()
	r := &x.Request
	r.Method = append(r.Method, "GET"...)
	r.Scheme = append(r.Scheme, "http"...)
	r.Authority = append(r.Authority, "api.example.com"...)
	r.Path = append(r.Path, "/v1/items/42?expand=owner&page=2"...)
	r.Protocol = exchange.HTTP11
	for _, h := range [][2]string{
		{"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},
		{"accept", "application/json"},
		{"accept-encoding", "gzip, deflate, br"},
		{"accept-language", "en-US,en;q=0.9"},
		{"authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl"},
		{"x-request-id", "0f8e2c1a-7d3b-4e9a-9c51-2b6f0e4d8a17"},
		{"x-forwarded-for", "203.0.113.9"},
		{"cookie", "session=abc"},
	} {
		r.Header.Add(h[0], h[1])
	}
	r.ClearModified()
	x.Source = netip.MustParseAddrPort("10.1.2.3:54321")
	x.Destination = netip.MustParseAddrPort("10.0.0.1:8080")
	x.Listener = "web"
	x.RequestID = 123456
	x.Route = "v1"
	x.Upstream = "api"
	x.Consumer = "bob"
}

// BenchmarkRBACDecision is one decision of the shipped RBAC policy through
// OnRequest, the input built from a full exchange, on each engine: "eval"
// evaluates every time (the decision cache is off, as on a cache miss),
// "cached" answers the same request from the decision cache. p50-ns is
// the median of OnRequest alone, without refilling the exchange.
//
//	go test -run '^$' -bench RBAC -benchmem ./gateway/policy/
func BenchmarkRBACDecision(b *testing.B) {
	for _, engine := range []string{policy.EngineTopdown, policy.EngineWasm} {
		for _, bc := range []struct {
			name  string
			cache int
		}{{"eval", -1}, {"cached", 0}} {
			b.Run(engine+"/"+bc.name, func(b *testing.B) {
				s, err := policy.New(context.Background(), policy.Config{
					Name:      "rbac",
					Files:     []string{"../../policies/rbac.rego"},
					Data:      []string{"testdata/rbac.json"},
					Query:     "data.wasmgate.rbac.decision",
					CacheSize: bc.cache,
					Engine:    engine,
				})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close(context.Background())
				if s.Engine() != engine {
					b.Fatalf("engine %s, want %s", s.Engine(), engine)
				}
				var x exchange.Exchange
				ctx := context.Background()
				benchExchange(&x)
				if act, err := s.OnRequest(ctx, &x); err != nil || act != chain.Continue {
					b.Fatalf("not allowed: %v %v %d", act, err, x.Response.Status)
				}
				var p50 percentiles
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					benchExchange(&x)
					start := time.Now()
					act, _ := s.OnRequest(ctx, &x)
					p50.add(time.Since(start))
					if act != chain.Continue {
						b.Fatal("denied")
					}
				}
				p50.report(b)
			})
		}
	}
}

// percentiles records the durations of up to the last 64 Ki operations
// of a benchmark, without allocating while it runs.
type percentiles struct {
	d [1 << 16]time.Duration
	n int
}

func (p *percentiles) add(d time.Duration) {
	p.d[p.n%len(p.d)] = d
	p.n++
}

// report adds the median and the 99th percentile as p50-ns and p99-ns.
func (p *percentiles) report(b *testing.B) {
	d := p.d[:min(p.n, len(p.d))]
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkEvalOverhead is the fixed cost of one evaluation on each
// engine: a policy that reads no input and always allows, with the cache
// off.
func BenchmarkEvalOverhead(b *testing.B) {
	dir := b.TempDir()
	p := dir + "/p.rego"
	if err := os.WriteFile(p, []byte("package wasmgate.authz\ndecision := true\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, engine := range []string{policy.EngineTopdown, policy.EngineWasm} {
		b.Run(engine, func(b *testing.B) {
			s, err := policy.New(context.Background(), policy.Config{Name: "t", Files: []string{p}, CacheSize: -1, Engine: engine})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			var x exchange.Exchange
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				benchExchange(&x)
				if act, _ := s.OnRequest(ctx, &x); act != chain.Continue {
					b.Fatal("denied")
				}
			}
		})
	}
}

// BenchmarkStageLoad is New for the shipped RBAC policy on each engine:
// what a configuration load pays per policy stage. "wasm-cached" shares a
// compilation cache across loads, as a gateway reloading the same policy
// would.
func BenchmarkStageLoad(b *testing.B) {
	cache := wazero.NewCompilationCache()
	defer cache.Close(context.Background())
	for _, bc := range []struct {
		name, engine string
		cache        wazero.CompilationCache
	}{
		{"topdown", policy.EngineTopdown, nil},
		{"wasm", policy.EngineWasm, nil},
		{"wasm-cached", policy.EngineWasm, cache},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := policy.New(context.Background(), policy.Config{
					Name:         "rbac",
					Files:        []string{"../../policies/rbac.rego"},
					Data:         []string{"testdata/rbac.json"},
					Query:        "data.wasmgate.rbac.decision",
					Engine:       bc.engine,
					WasmCache:    bc.cache,
					WasmPoolSize: 2,
				})
				if err != nil {
					b.Fatal(err)
				}
				_ = s.Close(context.Background())
			}
		})
	}
}
