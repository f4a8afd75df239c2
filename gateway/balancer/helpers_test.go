package balancer

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// endpoints returns one endpoint per weight, named a, b, c, … (e26, e27, …
// past z).
func endpoints(weights ...int) []*Endpoint {
	eps := make([]*Endpoint, len(weights))
	for i, w := range weights {
		eps[i] = NewEndpoint(name(i), w)
	}
	return eps
}

func name(i int) string {
	if i < 26 {
		return string(rune('a' + i))
	}
	return fmt.Sprintf("e%d", i)
}

func mustNew(t testing.TB, algorithm string, eps []*Endpoint) Picker {
	t.Helper()
	p, err := New(algorithm, eps)
	if err != nil {
		t.Fatalf("New(%q): %v", algorithm, err)
	}
	return p
}

// key returns the affinity key of the i-th client, 10.x.y.z.
func key(i int) uint64 {
	return HashAddr(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
}

// sequence picks n times with an empty hint and returns the addresses, space
// separated ("-" for nil).
func sequence(p Picker, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		if e := p.Pick(Hint{}); e != nil {
			b.WriteString(e.Address())
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// drive picks n times, the i-th time with key(i) and with h's exclusions,
// and counts the endpoints chosen (nil under the nil key). With hold, every
// chosen endpoint stays acquired until all n picks are done, as if n
// requests were in flight together; then all are released.
func drive(p Picker, n int, h Hint, hold bool) map[*Endpoint]int {
	counts := make(map[*Endpoint]int)
	for i := range n {
		h.Key = key(i)
		e := p.Pick(h)
		counts[e]++
		if hold && e != nil {
			e.Acquire()
		}
	}
	if hold {
		for e, c := range counts {
			for range c {
				if e != nil {
					e.Release()
				}
			}
		}
	}
	return counts
}

// holds reports whether an algorithm needs requests in flight to spread
// load; drive's hold for it.
func holds(algorithm string) bool { return algorithm == algLeastConn || algorithm == algP2C }
