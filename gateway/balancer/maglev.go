package balancer

import (
	"cmp"
	"math/bits"
	"slices"
)

// maglev is consistent hashing with Maglev's lookup table (Eisenbud et al.,
// "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016).
// Every endpoint has its own permutation of the table's slots, derived from
// a hash of its address; endpoints take turns claiming their next free slot,
// an endpoint of weight w taking w turns for every wmax turns of the
// heaviest one (weight wmax), until the table is full. A key maps to the
// slot at its hash. Removing one of N endpoints moves little more than 1/N
// of the keys, and the table size, a prime of at least 100×N slots, keeps
// the shares within about 1% of the weights.
//
// When the endpoint in a key's slot is unhealthy or excluded, the key goes
// to the next slot's endpoint (deterministic per key, spread over the
// others), and keys of the other endpoints do not move.
type maglev struct {
	eps   []*Endpoint // ordered by address hash, so the input order does not matter
	table []uint16    // indexes into eps
	walk  uint64      // see walkLimit
}

const (
	maglevMinSize = 65537 // prime
	maglevEmpty   = 1<<16 - 1
	seedOffset    = 0x6a09e667f3bcc908
	seedSkip      = 0xbb67ae8584caa73b
	seedFallback  = 0x3c6ef372fe94f82b
)

func newMaglev(endpoints []*Endpoint) *maglev {
	n := len(endpoints)
	if n == 0 {
		return &maglev{}
	}
	type perm struct {
		e          *Endpoint
		pos, skip  uint64
		offsetHash uint64
	}
	size := nextPrime(max(maglevMinSize, 100*n))
	m := uint64(size)
	ps := make([]perm, n)
	for i, e := range endpoints {
		h := hashString(e.address, seedOffset)
		ps[i] = perm{e: e, offsetHash: h, pos: h % m, skip: hashString(e.address, seedSkip)%(m-1) + 1}
	}
	slices.SortStableFunc(ps, func(a, b perm) int {
		return cmp.Or(cmp.Compare(a.offsetHash, b.offsetHash), cmp.Compare(a.e.address, b.e.address))
	})
	eps := make([]*Endpoint, n)
	wmax := 0
	for i, p := range ps {
		eps[i] = p.e
		wmax = max(wmax, p.e.weight)
	}

	table := make([]uint16, size)
	for i := range table {
		table[i] = maglevEmpty
	}
	credit := make([]int, n)
	for filled := 0; ; {
		for i := range ps {
			// The heaviest endpoint claims a slot every round, the others
			// as often as their weight allows.
			if credit[i] += eps[i].weight; credit[i] < wmax {
				continue
			}
			credit[i] -= wmax
			p := &ps[i]
			for table[p.pos] != maglevEmpty {
				p.pos = (p.pos + p.skip) % m
			}
			table[p.pos] = uint16(i)
			p.pos = (p.pos + p.skip) % m
			if filled++; filled == size {
				return &maglev{eps: eps, table: table, walk: walkLimit(n, size)}
			}
		}
	}
}

// Pick implements Picker.
func (p *maglev) Pick(h Hint) *Endpoint {
	if e := p.pick(&h); e != nil || h.n == 0 {
		return e
	}
	return p.pick(&Hint{Key: h.Key})
}

func (p *maglev) pick(h *Hint) *Endpoint {
	m := uint64(len(p.table))
	if m == 0 {
		return nil
	}
	i, _ := bits.Mul64(mix64(h.Key), m)
	for range p.walk {
		if e := p.eps[p.table[i]]; !h.unavailable(e) && !e.coldFor(h.Key) {
			return e
		}
		if i++; i == m {
			i = 0
		}
	}
	// Most of the weight is unavailable: a full scan, still deterministic
	// for the key.
	return weightedScan(p.eps, h, mix64(h.Key^seedFallback))
}

func nextPrime(n int) int {
	for !isPrime(n) {
		n++
	}
	return n
}

func isPrime(n int) bool {
	if n < 2 || n%2 == 0 {
		return n == 2
	}
	for d := 3; d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}
