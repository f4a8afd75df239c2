package balancer

import "testing"

// A warming endpoint (slow start) takes a reduced share with every
// algorithm, is still picked when it is the only eligible one, and Pick
// stays allocation-free.
func TestSlowStartWarmth(t *testing.T) {
	const picks = 20000
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			eps := endpoints(100, 100, 100)
			p := mustNew(t, alg, eps)
			eps[0].SetWarmth(0.1)
			if w := eps[0].Warmth(); w < 0.09 || w > 0.11 {
				t.Fatalf("Warmth = %v, want 0.1", w)
			}
			counts := map[*Endpoint]int{}
			for i := range picks {
				counts[p.Pick(Hint{Key: key(i)})]++
			}
			// Unwarmed it would get a third; warming at 10% it gets far
			// less, but some.
			if got := counts[eps[0]]; got == 0 || got > picks/6 {
				t.Errorf("warming endpoint got %d of %d picks, want between 1 and %d", got, picks, picks/6)
			}
			eps[1].SetHealthy(false)
			eps[2].SetHealthy(false)
			for i := range 200 {
				if e := p.Pick(Hint{Key: key(i)}); e != eps[0] {
					t.Fatalf("only the warming endpoint is eligible, Pick = %v", e)
				}
			}
			eps[0].SetWarmth(1)
			if eps[0].Warmth() != 1 {
				t.Errorf("Warmth after SetWarmth(1) = %v", eps[0].Warmth())
			}
			eps[0].SetWarmth(0.5)
			eps[1].SetHealthy(true)
			if a := testing.AllocsPerRun(100, func() { p.Pick(Hint{Key: 7}) }); a != 0 {
				t.Errorf("Pick with a warming endpoint: %v allocs", a)
			}
		})
	}
}

// With source_ip_hash a warming endpoint takes a stable subset of its
// clients: each client's choice does not change from one Pick to the next.
func TestSlowStartConsistentHash(t *testing.T) {
	eps := endpoints(100, 100, 100)
	p := mustNew(t, "source_ip_hash", eps)
	eps[0].SetWarmth(0.5)
	on := 0
	for i := range 3000 {
		first := p.Pick(Hint{Key: key(i)})
		for range 5 {
			if e := p.Pick(Hint{Key: key(i)}); e != first {
				t.Fatalf("client %d moved from %s to %s while warming", i, first.Address(), e.Address())
			}
		}
		if first == eps[0] {
			on++
		}
	}
	// A third of the clients hash to it; half of those stay.
	if on < 300 || on > 700 {
		t.Errorf("warming endpoint at 0.5 keeps %d of 3000 clients, want about 500", on)
	}
}
