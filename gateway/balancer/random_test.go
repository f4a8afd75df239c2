package balancer

import (
	"math"
	"testing"
)

// The alias table gives each endpoint exactly its share of the weight:
// summing the probability of every slot outcome reproduces the weights.
func TestAliasTableExact(t *testing.T) {
	tests := [][]int{
		{1},
		{75, 25},
		{5, 1, 1},
		{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		{100, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	}
	for _, weights := range tests {
		tab := newAliasTable(endpoints(weights...))
		n := uint64(len(tab.slots))
		got := make([]uint64, len(weights)) // in units of 1/(n×total)
		for i, s := range tab.slots {
			if uint64(s.prob) > tab.total {
				t.Fatalf("weights %v: slot %d prob %d > total %d", weights, i, s.prob, tab.total)
			}
			got[i] += uint64(s.prob)
			got[s.alias] += tab.total - uint64(s.prob)
		}
		for i, w := range weights {
			if got[i] != uint64(w)*n {
				t.Errorf("weights %v: endpoint %d has %d/%d, want %d", weights, i, got[i], n*tab.total, uint64(w)*n)
			}
		}
	}
}

// sample maps the whole range of random numbers onto the endpoints in
// proportion to weight: sweep it evenly.
func TestAliasSampleSweep(t *testing.T) {
	eps := endpoints(1, 2, 3, 4)
	tab := newAliasTable(eps)
	const steps = 1 << 16
	counts := make(map[*Endpoint]int)
	for i := range uint64(steps) {
		counts[tab.sample(i*(math.MaxUint64/steps)+i)]++
	}
	for _, e := range eps {
		want := float64(steps) * float64(e.Weight()) / 10
		if got := float64(counts[e]); math.Abs(got-want) > 0.01*want {
			t.Errorf("%s: %v of %d, want %v", e.Address(), got, steps, want)
		}
	}
}

func TestP2CPrefersLessLoaded(t *testing.T) {
	eps := endpoints(1, 1)
	for range 100 {
		eps[0].Acquire()
	}
	p := mustNew(t, algP2C, eps)
	// a wins only when both candidates are a, twice in a row: 1/8. Expect
	// about 500 of 4000; 1000 is over 20 standard deviations away.
	if n := drive(p, 4000, Hint{}, false)[eps[0]]; n > 1000 {
		t.Errorf("busy endpoint picked %d of 4000 times", n)
	}
}
