package balancer

import (
	"math/bits"
	"math/rand/v2"
)

// aliasTable samples endpoints with probability proportional to weight in
// constant time (Walker's alias method, built with Vose's algorithm in
// integer arithmetic). Each slot is chosen uniformly; it then yields its own
// endpoint with probability prob/total, otherwise its alias.
type aliasTable struct {
	eps   []*Endpoint
	slots []aliasSlot
	total uint64 // sum of weights
}

type aliasSlot struct {
	prob  uint32 // out of total
	alias uint16 // index into eps
}

func newAliasTable(eps []*Endpoint) aliasTable {
	n := uint64(len(eps))
	var total uint64
	for _, e := range eps {
		total += uint64(e.weight)
	}
	// Scale every weight by n so that the mean is total: a slot holds total.
	scaled := make([]uint64, n)
	var small, large []int
	for i, e := range eps {
		scaled[i] = uint64(e.weight) * n
		if scaled[i] < total {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	slots := make([]aliasSlot, n)
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small, large = small[:len(small)-1], large[:len(large)-1]
		slots[s] = aliasSlot{prob: uint32(scaled[s]), alias: uint16(l)}
		scaled[l] -= total - scaled[s] // l fills the rest of slot s
		if scaled[l] < total {
			small = append(small, l)
		} else {
			large = append(large, l)
		}
	}
	// Integer arithmetic leaves the rest exactly full.
	for _, i := range append(small, large...) {
		slots[i] = aliasSlot{prob: uint32(total), alias: uint16(i)}
	}
	return aliasTable{eps: eps, slots: slots, total: total}
}

// sample maps one uniform random number to an endpoint: the high half of
// r×slots picks the slot, the low half, scaled to total, decides between the
// slot's endpoint and its alias.
func (t *aliasTable) sample(r uint64) *Endpoint {
	i, lo := bits.Mul64(r, uint64(len(t.slots)))
	s := t.slots[i]
	if y, _ := bits.Mul64(lo, t.total); y < uint64(s.prob) {
		return t.eps[i]
	}
	return t.eps[s.alias]
}

// pick draws until it hits an endpoint h does not skip (rejection sampling
// keeps the weights exact among those), and after a few misses (much of the
// weight is unhealthy or excluded) falls back to a weighted scan.
func (t *aliasTable) pick(h *Hint) *Endpoint {
	if len(t.eps) == 0 {
		return nil
	}
	for range 3 {
		if e := t.sample(rand.Uint64()); !h.skip(e) {
			return e
		}
	}
	return weightedScan(t.eps, h, rand.Uint64())
}

// random is weighted random choice. math/rand/v2's top-level functions use a
// per-thread generator, so there is no shared state and no lock.
type random struct{ t aliasTable }

// Pick implements Picker.
func (p *random) Pick(h Hint) *Endpoint {
	if e := p.t.pick(&h); e != nil || h.n == 0 {
		return e
	}
	return p.t.pick(&Hint{})
}

// p2c is the power of two choices: two weighted-random candidates (drawn
// again once if they coincide), and the one with fewer in-flight requests
// per unit of weight wins; on a tie the first, so idle traffic follows the
// weights.
type p2c struct{ t aliasTable }

// Pick implements Picker.
func (p *p2c) Pick(h Hint) *Endpoint {
	if e := p.pick(&h); e != nil || h.n == 0 {
		return e
	}
	return p.pick(&Hint{})
}

func (p *p2c) pick(h *Hint) *Endpoint {
	a := p.t.pick(h)
	if a == nil {
		return nil
	}
	b := p.t.pick(h)
	if b == a {
		b = p.t.pick(h)
	}
	if b != nil && b.load()*int64(a.weight) < a.load()*int64(b.weight) {
		return b
	}
	return a
}
