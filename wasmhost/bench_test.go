package wasmhost_test

import (
	"context"
	"testing"

	"github.com/wasmgate/wasmgate/wasmhost"
)

// benchStream is a Stream that is reset, not reallocated, between requests,
// as a pooled gateway Exchange would be.
type benchStream struct {
	stream
	reqH, respH headers
}

func newBenchStream() *benchStream {
	b := &benchStream{}
	b.stream.props = map[string]string{}
	return b
}

func (b *benchStream) reset() {
	b.reqH = append(b.reqH[:0], [2]string{":method", "GET"}, [2]string{":path", "/"},
		[2]string{":authority", "example.com"}, [2]string{"x-in", "bench"})
	b.respH = append(b.respH[:0], [2]string{":status", "200"})
	b.maps[wasmhost.RequestHeaders] = &b.reqH
	b.maps[wasmhost.ResponseHeaders] = &b.respH
}

// roundTrip runs one request through p: create, request headers, response
// headers, done.
func roundTrip(b *testing.B, p *wasmhost.Plugin, s *benchStream) {
	ctx := context.Background()
	s.reset()
	c, err := p.NewHTTPContext(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.OnRequestHeaders(ctx, true); err != nil {
		b.Fatal(err)
	}
	if _, err := c.OnResponseHeaders(ctx, true); err != nil {
		b.Fatal(err)
	}
	c.Done(ctx)
	if len(s.respH) != 2 {
		b.Fatalf("response headers %v", s.respH)
	}
}

// deadlineModes are the ways of running a benchmark: with the default
// deadline (instrumented module), with wazero's context watch instead, and
// without deadline.
var deadlineModes = []struct {
	name string
	cfg  wasmhost.PluginConfig
}{
	{"deadline", wasmhost.PluginConfig{}},
	{"context-deadline", wasmhost.PluginConfig{ContextDeadlines: true}},
	{"no-deadline", wasmhost.PluginConfig{CallTimeout: -1}},
}

func benchPlugin(b *testing.B, wasm []byte, cfg wasmhost.PluginConfig) {
	e := newEnv(b)
	cfg.Wasm, cfg.PoolSize = wasm, 1
	p := e.load(b, cfg)
	s := newBenchStream()
	b.ReportAllocs()
	for b.Loop() {
		roundTrip(b, p, s)
	}
}

// BenchmarkRoundTripWAT: a tiny hand-written filter (what a C filter
// compiles to) reading one request header and adding one response header.
func BenchmarkRoundTripWAT(b *testing.B) {
	for _, m := range deadlineModes {
		b.Run(m.name, func(b *testing.B) { benchPlugin(b, readWasm(b, "bench"), m.cfg) })
	}
}

// BenchmarkRoundTripWATParallel keeps both pool instances busy, as a loaded
// gateway would, with the default (instrumented) deadline.
func BenchmarkRoundTripWATParallel(b *testing.B) {
	e := newEnv(b)
	p := e.load(b, wasmhost.PluginConfig{Wasm: readWasm(b, "bench"), PoolSize: 2})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := newBenchStream()
		for pb.Next() {
			roundTrip(b, p, s)
		}
	})
}

// BenchmarkRoundTripGoSDK: a filter built with the official Go SDK reading
// one request header and adding one response header.
func BenchmarkRoundTripGoSDK(b *testing.B) {
	wasm := buildGoSDK(b, "headers")
	for _, m := range deadlineModes {
		b.Run(m.name, func(b *testing.B) { benchPlugin(b, wasm, m.cfg) })
	}
}
