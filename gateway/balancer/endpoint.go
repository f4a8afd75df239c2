package balancer

import (
	"math/rand/v2"
	"sync/atomic"
)

// MaxWeight is the largest endpoint weight. Weights run from 0 to MaxWeight;
// an endpoint of weight 0 receives no new requests.
const MaxWeight = 100

// cacheLine is the size the hot structures are padded to, so that counters
// written by one core do not invalidate unrelated data read by another.
const cacheLine = 64

// Endpoint is one upstream endpoint as the balancer sees it: an address, an
// immutable weight, a count of requests in flight and a health flag.
//
// An Endpoint is safe for concurrent use. The same Endpoint may be shared by
// several Pickers (for example the old and the new one during a reload), so
// its in-flight count and health carry over. Create it with NewEndpoint.
type Endpoint struct {
	address  string
	weight   int
	inflight atomic.Int64
	down     atomic.Bool // zero value: healthy
	// warm is the slow-start factor: 0 means fully warm (the zero value);
	// otherwise a Pick that lands on the endpoint keeps it with
	// probability warm/warmScale (see SetWarmth).
	warm atomic.Uint32
	// Pad to a cache line so that Acquire/Release on one endpoint do not
	// slow down Picks that read a neighbouring endpoint.
	_ [cacheLine - 16 - 8 - 8 - 4 - 4]byte
}

// warmScale is the fixed-point unit of Endpoint.warm.
const warmScale = 1 << 16

// NewEndpoint returns a healthy endpoint with no requests in flight. A weight
// outside 0..MaxWeight is clamped into that range; configuration validation
// is expected to have rejected it already.
func NewEndpoint(address string, weight int) *Endpoint {
	return &Endpoint{address: address, weight: min(max(weight, 0), MaxWeight)}
}

// Address returns the address the endpoint was created with.
func (e *Endpoint) Address() string { return e.address }

// Weight returns the endpoint's weight, 0..MaxWeight.
func (e *Endpoint) Weight() int { return e.weight }

// Acquire records that a request to the endpoint has started. Every Acquire
// must be paired with exactly one Release.
func (e *Endpoint) Acquire() { e.inflight.Add(1) }

// Release records that a request to the endpoint has finished.
func (e *Endpoint) Release() { e.inflight.Add(-1) }

// InFlight returns the number of requests to the endpoint that have been
// acquired and not yet released.
func (e *Endpoint) InFlight() int64 { return e.inflight.Load() }

// SetHealthy marks the endpoint healthy or unhealthy. Health checks and
// outlier detection call it; Pickers skip unhealthy endpoints.
func (e *Endpoint) SetHealthy(healthy bool) { e.down.Store(!healthy) }

// Healthy reports whether the endpoint is healthy. A new endpoint is healthy.
func (e *Endpoint) Healthy() bool { return !e.down.Load() }

// Eligible reports whether the endpoint may receive new requests: its weight
// is above zero and it is healthy.
func (e *Endpoint) Eligible() bool { return e.weight > 0 && !e.down.Load() }

// SetWarmth sets the share of its normal traffic a recovering endpoint
// takes during slow start, from 0 (almost none) to 1 (all of it; the
// default). Pickers approximate it by passing over a warming endpoint with
// probability 1-f wherever they land on it, so the other endpoints take
// the rest; a warming endpoint is still picked when nothing else is
// eligible. Health checks call it while they ramp an endpoint up.
func (e *Endpoint) SetWarmth(f float64) {
	switch {
	case f >= 1 || f != f:
		e.warm.Store(0)
	case f <= 1.0/warmScale:
		e.warm.Store(1)
	default:
		e.warm.Store(uint32(f * warmScale))
	}
}

// Warmth returns the slow-start factor set by SetWarmth, 1 when warm.
func (e *Endpoint) Warmth() float64 {
	if w := e.warm.Load(); w != 0 {
		return float64(w) / warmScale
	}
	return 1
}

// cold reports whether a Pick landing on e passes over it for slow start.
// It costs one atomic load when e is warm.
func (e *Endpoint) cold() bool {
	w := e.warm.Load()
	return w != 0 && rand.Uint32()>>16 >= w
}

// coldFor is cold for consistent hashing: the draw is the key's own, so a
// client either goes to a warming endpoint or to its next choice, always
// the same one, and the share of clients that go grows with the warmth
// (no client flips back and forth).
func (e *Endpoint) coldFor(key uint64) bool {
	w := e.warm.Load()
	return w != 0 && uint32(mix64(key^0x2545f4914f6cdd1d)>>48) >= w
}

// load returns the in-flight count, never below zero even if Release was
// called too often, for load comparisons.
func (e *Endpoint) load() int64 { return max(e.inflight.Load(), 0) }
