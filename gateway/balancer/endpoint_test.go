package balancer

import (
	"math/bits"
	"net/netip"
	"testing"
	"unsafe"
)

func TestNewEndpointWeight(t *testing.T) {
	tests := []struct {
		weight, want int
		eligible     bool
	}{
		{-5, 0, false},
		{0, 0, false},
		{1, 1, true},
		{100, 100, true},
		{101, 100, true},
	}
	for _, tt := range tests {
		e := NewEndpoint("10.0.0.1:80", tt.weight)
		if e.Address() != "10.0.0.1:80" || e.Weight() != tt.want || e.Eligible() != tt.eligible {
			t.Errorf("NewEndpoint(_, %d): address %q weight %d eligible %v, want weight %d eligible %v",
				tt.weight, e.Address(), e.Weight(), e.Eligible(), tt.want, tt.eligible)
		}
	}
}

func TestEndpointState(t *testing.T) {
	e := NewEndpoint("a", 10)
	if !e.Healthy() || !e.Eligible() || e.InFlight() != 0 {
		t.Fatalf("new endpoint: healthy %v eligible %v in flight %d", e.Healthy(), e.Eligible(), e.InFlight())
	}
	e.Acquire()
	e.Acquire()
	e.Release()
	if n := e.InFlight(); n != 1 {
		t.Errorf("in flight = %d after 2 Acquire, 1 Release; want 1", n)
	}
	e.SetHealthy(false)
	if e.Healthy() || e.Eligible() {
		t.Error("SetHealthy(false): still healthy or eligible")
	}
	e.SetHealthy(true)
	if !e.Healthy() || !e.Eligible() {
		t.Error("SetHealthy(true): not healthy or not eligible")
	}
	e.Release()
	e.Release()
	if e.InFlight() != -1 || e.load() != 0 {
		t.Errorf("unbalanced Release: InFlight %d load %d, want -1 and 0", e.InFlight(), e.load())
	}
}

// Each endpoint has a cache line to itself, so that Acquire/Release on one
// do not slow down Picks reading its neighbours.
func TestEndpointSize(t *testing.T) {
	if s := unsafe.Sizeof(Endpoint{}); s != cacheLine {
		t.Errorf("sizeof(Endpoint) = %d, want %d", s, cacheLine)
	}
}

func TestHintExclude(t *testing.T) {
	eps := endpoints(make([]int, MaxExcluded+3)...)
	var h Hint
	if h.Excluded(eps[0]) || h.Excluded(nil) {
		t.Fatal("zero Hint excludes something")
	}
	h.Exclude(nil)
	h.Exclude(eps[0])
	h.Exclude(eps[0])
	if !h.Excluded(eps[0]) || h.Excluded(eps[1]) || h.Excluded(nil) || h.n != 1 {
		t.Fatalf("after Exclude(nil), Exclude(a) twice: a %v b %v nil %v count %d",
			h.Excluded(eps[0]), h.Excluded(eps[1]), h.Excluded(nil), h.n)
	}
	// Past MaxExcluded, the most recent MaxExcluded are kept.
	for _, e := range eps[1:] {
		h.Exclude(e)
	}
	for i, e := range eps {
		want := i >= len(eps)-MaxExcluded
		if got := h.Excluded(e); got != want {
			t.Errorf("Excluded(%s) = %v, want %v", e.Address(), got, want)
		}
	}
}

func TestHashAddr(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "::ffff:192.0.2.1", true},
		{"fe80::1%eth0", "fe80::1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"192.0.2.1", "1.2.0.192", false},
		{"2001:db8::1", "2001:db8::2", false},
		{"2001:db8::1", "2001:db8:0:0:1::", false},
	}
	for _, tt := range tests {
		a, b := netip.MustParseAddr(tt.a), netip.MustParseAddr(tt.b)
		if same := HashAddr(a) == HashAddr(b); same != tt.same {
			t.Errorf("HashAddr(%s) == HashAddr(%s) is %v, want %v", a, b, same, tt.same)
		}
	}
}

// Consecutive addresses must give unrelated hashes: every output bit is set
// for about half of 4096 consecutive IPv4 and IPv6 addresses (±5%, over 6
// standard deviations).
func TestHashAddrMixes(t *testing.T) {
	const n = 4096
	for _, base := range []string{"10.0.0.0", "2001:db8::"} {
		a := netip.MustParseAddr(base)
		var ones [64]int
		for range n {
			h := HashAddr(a)
			for b := range 64 {
				ones[b] += int(h >> b & 1)
			}
			a = a.Next()
		}
		for b, c := range ones {
			if c < n*45/100 || c > n*55/100 {
				t.Errorf("%s+i: bit %d set in %d of %d hashes", base, b, c, n)
			}
		}
	}
	// And one flipped input bit flips about half the output bits.
	x := HashAddr(netip.MustParseAddr("10.0.0.0"))
	y := HashAddr(netip.MustParseAddr("10.0.0.1"))
	if d := bits.OnesCount64(x ^ y); d < 16 || d > 48 {
		t.Errorf("hashes of 10.0.0.0 and 10.0.0.1 differ in %d bits", d)
	}
}

func TestHashAddrDoesNotAllocate(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1")
	if n := testing.AllocsPerRun(100, func() { _ = HashAddr(a) }); n != 0 {
		t.Errorf("%v allocations per HashAddr, want 0", n)
	}
}
