package balancer

import (
	"encoding/binary"
	"net/netip"
)

// MaxExcluded is how many endpoints a Hint remembers as already tried. When
// more are excluded, the most recent MaxExcluded are kept.
const MaxExcluded = 8

// Hint carries the per-request inputs of a Pick. The zero value is a valid
// hint with no affinity key and nothing excluded. It holds no heap memory of
// its own and is passed by value, so a Hint kept in a local variable across
// retries costs no allocation.
type Hint struct {
	// Key is the affinity key used by source_ip_hash, for example
	// HashAddr(client IP). Other algorithms ignore it.
	Key uint64

	excluded [MaxExcluded]*Endpoint
	n        uint32 // number of Exclude calls that recorded an endpoint
}

// Exclude records that e was already tried by this request, so that a retry
// goes to another endpoint when one is eligible. A nil e, or one already
// excluded, is ignored.
func (h *Hint) Exclude(e *Endpoint) {
	if e == nil || h.Excluded(e) {
		return
	}
	h.excluded[h.n%MaxExcluded] = e
	h.n++
}

// Excluded reports whether e was recorded by Exclude (and not since pushed out
// by more than MaxExcluded later exclusions).
func (h *Hint) Excluded(e *Endpoint) bool {
	n := min(h.n, MaxExcluded)
	for i := range n {
		if h.excluded[i] == e {
			return true
		}
	}
	return false
}

// skip reports whether a Pick passes over e: it is unhealthy or excluded,
// or warming up (slow start) and loses its draw. Pickers hold only
// endpoints of positive weight, so the weight is not checked here.
func (h *Hint) skip(e *Endpoint) bool {
	return h.unavailable(e) || e.cold()
}

// unavailable reports whether e must not be picked: it is unhealthy or
// excluded. The fallback scans use it, so that a warming endpoint is still
// chosen when it is the only one left.
func (h *Hint) unavailable(e *Endpoint) bool {
	return e.down.Load() || (h.n != 0 && h.Excluded(e))
}

// HashAddr returns a well-mixed 64-bit hash of an IP address, for use as
// Hint.Key. It does not allocate. An IPv4 address and its IPv4-mapped IPv6
// form hash alike; the zone is ignored. The result is the same in every
// process, so replicas of the gateway agree on affinity.
func HashAddr(a netip.Addr) uint64 {
	b := a.As16()
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	return mix64(hi ^ mix64(lo^0x9e3779b97f4a7c15))
}

// mix64 is a bijective 64-bit finaliser with full avalanche (the one used by
// SplitMix64): every input bit affects every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashString is 64-bit FNV-1a followed by mix64. It is stable across
// processes, unlike hash/maphash.
func hashString(s string, seed uint64) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}
