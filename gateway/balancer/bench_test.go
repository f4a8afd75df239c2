package balancer

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
)

// benchEndpoints returns n endpoints of weights 10, 20, 30, 10, … so that the
// weighted algorithms have work to do.
func benchEndpoints(n int) []*Endpoint {
	eps := make([]*Endpoint, n)
	for i := range eps {
		eps[i] = NewEndpoint(fmt.Sprintf("10.0.%d.%d:8080", i/256, i%256), 10*(1+i%3))
	}
	return eps
}

// BenchmarkPick measures one Pick per operation, with a different affinity
// key each time, on one goroutine and on all of them.
func BenchmarkPick(b *testing.B) {
	for _, alg := range Algorithms() {
		for _, n := range []int{3, 50} {
			p := mustNew(b, alg, benchEndpoints(n))
			b.Run(fmt.Sprintf("%s/N=%d/serial", alg, n), func(b *testing.B) {
				b.ReportAllocs()
				var k uint64
				for b.Loop() {
					k++
					if p.Pick(Hint{Key: k}) == nil {
						b.Fatal("nil pick")
					}
				}
			})
			b.Run(fmt.Sprintf("%s/N=%d/parallel", alg, n), func(b *testing.B) {
				b.ReportAllocs()
				var seed atomic.Uint64
				b.RunParallel(func(pb *testing.PB) {
					k := seed.Add(1) << 32
					for pb.Next() {
						k++
						if p.Pick(Hint{Key: k}) == nil {
							panic("nil pick")
						}
					}
				})
			})
		}
	}
}

// BenchmarkRequest is the balancer's share of a proxied request: Pick,
// Acquire, Release, in parallel.
func BenchmarkRequest(b *testing.B) {
	for _, alg := range Algorithms() {
		p := mustNew(b, alg, benchEndpoints(50))
		b.Run(alg+"/N=50", func(b *testing.B) {
			b.ReportAllocs()
			var seed atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				k := seed.Add(1) << 32
				for pb.Next() {
					k++
					e := p.Pick(Hint{Key: k})
					e.Acquire()
					e.Release()
				}
			})
		})
	}
}

func BenchmarkHashAddr(b *testing.B) {
	b.ReportAllocs()
	a := netip.MustParseAddr("2001:db8::1")
	var sink uint64
	for b.Loop() {
		sink += HashAddr(a)
	}
	_ = sink
}

// BenchmarkNew measures building a Picker, which happens on every change of
// the endpoint list.
func BenchmarkNew(b *testing.B) {
	for _, alg := range Algorithms() {
		for _, n := range []int{3, 50, 1000} {
			eps := benchEndpoints(n)
			b.Run(fmt.Sprintf("%s/N=%d", alg, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					mustNew(b, alg, eps)
				}
			})
		}
	}
}
