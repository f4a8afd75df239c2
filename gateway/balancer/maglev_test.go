package balancer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMaglevSameKeySameEndpoint(t *testing.T) {
	eps := endpoints(1, 2, 3, 4, 5)
	p := mustNew(t, algSourceIPHash, eps)
	reversed := slices.Clone(eps)
	slices.Reverse(reversed)
	q := mustNew(t, algSourceIPHash, reversed)
	for i := range 2000 {
		h := Hint{Key: key(i)}
		first := p.Pick(h)
		if again := p.Pick(h); again != first {
			t.Fatalf("key %d: %s then %s", i, first.Address(), again.Address())
		}
		if other := q.Pick(h); other != first {
			t.Fatalf("key %d: %s, but %s when built from the reversed list", i, first.Address(), other.Address())
		}
	}
}

// maglevMapping returns the endpoint of each key.
func maglevMapping(t *testing.T, eps []*Endpoint, keys []uint64) []*Endpoint {
	p := mustNew(t, algSourceIPHash, eps)
	out := make([]*Endpoint, len(keys))
	for i, k := range keys {
		out[i] = p.Pick(Hint{Key: k})
	}
	return out
}

func randomKeys(n int) []uint64 {
	r := rand.New(rand.NewPCG(7, 11))
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = r.Uint64()
	}
	return keys
}

func TestMaglevRemoveEndpointRemapsFew(t *testing.T) {
	keys := randomKeys(10000)
	for _, n := range []int{3, 5, 10} {
		for _, weighted := range []bool{false, true} {
			weights := make([]int, n)
			for i := range weights {
				weights[i] = 10
				if weighted {
					weights[i] = 10 * (1 + i%3)
				}
			}
			eps := endpoints(weights...)
			before := maglevMapping(t, eps, keys)
			for removed := range n {
				t.Run(fmt.Sprintf("N=%d/weighted=%v/remove=%d", n, weighted, removed), func(t *testing.T) {
					rest := slices.Delete(slices.Clone(eps), removed, removed+1)
					after := maglevMapping(t, rest, keys)
					moved := 0
					for i := range keys {
						if after[i] == eps[removed] {
							t.Fatal("a key still maps to the removed endpoint")
						}
						if after[i] != before[i] {
							moved++
						}
					}
					// The removed endpoint's keys must move (its share of the
					// weight: 1/N when weights are equal); little else may.
					total := 0
					for _, w := range weights {
						total += w
					}
					limit := float64(weights[removed])/float64(total) + 0.05
					if frac := float64(moved) / float64(len(keys)); frac > limit {
						t.Errorf("%.3f of keys moved, want ≤ %.3f", frac, limit)
					}
				})
			}
		}
	}
}

func TestMaglevSpread(t *testing.T) {
	keys := randomKeys(10000)
	for _, n := range []int{3, 10} {
		eps := endpoints(slices.Repeat([]int{1}, n)...)
		counts := make(map[*Endpoint]int)
		for _, e := range maglevMapping(t, eps, keys) {
			counts[e]++
		}
		want := float64(len(keys)) / float64(n)
		for _, e := range eps {
			// ±15% is about 5 standard deviations of the sampling noise.
			if got := float64(counts[e]); math.Abs(got-want) > 0.15*want {
				t.Errorf("N=%d: %s has %v keys, want %v ±15%%", n, e.Address(), got, want)
			}
		}
	}
}

// The table itself gives every endpoint its share of the weight within 1%.
func TestMaglevTableShares(t *testing.T) {
	tests := [][]int{
		{1, 1, 1},
		{75, 25},
		{5, 1, 1},
		{10, 20, 30, 40, 50, 60, 70, 80, 90, 100},
		slices.Repeat([]int{1}, 700), // a table larger than the minimum
	}
	for _, weights := range tests {
		p := newMaglev(endpoints(weights...))
		if !isPrime(len(p.table)) || len(p.table) < 100*len(weights) {
			t.Errorf("%d endpoints: table size %d, want a prime ≥ %d", len(weights), len(p.table), 100*len(weights))
		}
		total := 0
		for _, w := range weights {
			total += w
		}
		count := make(map[*Endpoint]int)
		for _, i := range p.table {
			count[p.eps[i]]++
		}
		for _, e := range p.eps {
			want := float64(len(p.table)) * float64(e.Weight()) / float64(total)
			if got := float64(count[e]); math.Abs(got-want) > 0.01*want+1 {
				t.Errorf("weights %v: %s has %v slots, want %.1f", weights, e.Address(), got, want)
				break
			}
		}
	}
}

// An unhealthy endpoint's keys spread over the others; no other key moves;
// when it recovers, its keys come back.
func TestMaglevUnhealthyFallsThrough(t *testing.T) {
	keys := randomKeys(10000)
	eps := endpoints(1, 1, 1, 1, 1)
	p := mustNew(t, algSourceIPHash, eps)
	pick := func(k uint64) *Endpoint { return p.Pick(Hint{Key: k}) }
	before := make([]*Endpoint, len(keys))
	for i, k := range keys {
		before[i] = pick(k)
	}
	down := eps[2]
	down.SetHealthy(false)
	movedTo := make(map[*Endpoint]int)
	for i, k := range keys {
		e := pick(k)
		switch {
		case e == down || e == nil:
			t.Fatalf("key %d: picked %v while c is down", i, e)
		case before[i] != down && e != before[i]:
			t.Fatalf("key %d moved from %s to %s though its endpoint is healthy", i, before[i].Address(), e.Address())
		case before[i] == down:
			movedTo[e]++
			if again := pick(k); again != e {
				t.Fatalf("key %d: fallback %s then %s", i, e.Address(), again.Address())
			}
		}
	}
	if len(movedTo) != len(eps)-1 {
		t.Errorf("the keys of c went to %d endpoints, want all %d others", len(movedTo), len(eps)-1)
	}
	down.SetHealthy(true)
	for i, k := range keys {
		if e := pick(k); e != before[i] {
			t.Fatalf("key %d: %s after recovery, want %s", i, e.Address(), before[i].Address())
		}
	}
}

// A retry of a key goes to a deterministic other endpoint.
func TestMaglevExcludeDeterministic(t *testing.T) {
	eps := endpoints(1, 1, 1, 1)
	p := mustNew(t, algSourceIPHash, eps)
	for i := range 1000 {
		h := Hint{Key: key(i)}
		first := p.Pick(h)
		h.Exclude(first)
		retry := p.Pick(h)
		if retry == first || retry == nil {
			t.Fatalf("key %d: retry got %v after excluding %s", i, retry, first.Address())
		}
		if again := p.Pick(h); again != retry {
			t.Fatalf("key %d: retry %s then %s", i, retry.Address(), again.Address())
		}
	}
}

func TestIsPrime(t *testing.T) {
	var got []int
	for n := range 50 {
		if isPrime(n) {
			got = append(got, n)
		}
	}
	want := []int{2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47}
	if !slices.Equal(got, want) || !isPrime(maglevMinSize) || nextPrime(70000) != 70001 {
		t.Errorf("primes below 50: %v; isPrime(%d) %v; nextPrime(70000) %d",
			got, maglevMinSize, isPrime(maglevMinSize), nextPrime(70000))
	}
}
