package balancer

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
)

func TestNewErrors(t *testing.T) {
	a := NewEndpoint("a", 1)
	tests := []struct {
		name      string
		algorithm string
		eps       []*Endpoint
		unknown   bool
	}{
		{"unknown algorithm", "fastest", endpoints(1), true},
		{"empty algorithm", "", endpoints(1), true},
		{"case matters", "Round_Robin", endpoints(1), true},
		{"nil endpoint", algRoundRobin, []*Endpoint{a, nil}, false},
		{"repeated endpoint", algRoundRobin, []*Endpoint{a, a}, false},
		{"too many endpoints", algRoundRobin, make([]*Endpoint, MaxEndpoints+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.algorithm, tt.eps)
			if err == nil || p != nil {
				t.Fatalf("New = %v, %v; want an error", p, err)
			}
			if got := errors.Is(err, ErrUnknownAlgorithm); got != tt.unknown {
				t.Errorf("errors.Is(%v, ErrUnknownAlgorithm) = %v, want %v", err, got, tt.unknown)
			}
		})
	}
}

func TestAlgorithms(t *testing.T) {
	want := []string{"round_robin", "weighted_round_robin", "least_conn", "random", "p2c", "source_ip_hash"}
	got := Algorithms()
	if !slices.Equal(got, want) {
		t.Fatalf("Algorithms() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if Algorithms()[0] != want[0] {
		t.Error("Algorithms() shares its slice between calls")
	}
	for _, alg := range want {
		if _, err := New(alg, endpoints(1, 2)); err != nil {
			t.Errorf("New(%q): %v", alg, err)
		}
	}
}

func TestNewCopiesEndpoints(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			eps := endpoints(1, 1)
			p := mustNew(t, alg, eps)
			eps[0], eps[1] = NewEndpoint("x", 1), NewEndpoint("y", 1)
			for e, n := range drive(p, 200, Hint{}, holds(alg)) {
				if e == nil || (e.Address() != "a" && e.Address() != "b") {
					t.Fatalf("picked %v %d times after the caller reused its slice", e, n)
				}
			}
		})
	}
}

func TestNoEligibleEndpoint(t *testing.T) {
	unhealthy := endpoints(1, 2)
	for _, e := range unhealthy {
		e.SetHealthy(false)
	}
	tests := []struct {
		name string
		eps  []*Endpoint
	}{
		{"no endpoints", nil},
		{"all weights 0", endpoints(0, 0, 0)},
		{"all unhealthy", unhealthy},
	}
	for _, alg := range Algorithms() {
		for _, tt := range tests {
			t.Run(alg+"/"+tt.name, func(t *testing.T) {
				p := mustNew(t, alg, tt.eps)
				var h Hint
				for _, e := range tt.eps {
					h.Exclude(e)
				}
				for i := range 100 {
					if e := p.Pick(Hint{Key: key(i)}); e != nil {
						t.Fatalf("Pick = %s, want nil", e.Address())
					}
					if e := p.Pick(h); e != nil {
						t.Fatalf("Pick with exclusions = %s, want nil", e.Address())
					}
				}
			})
		}
	}
}

func TestWeightZeroNeverPicked(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			eps := endpoints(0, 1, 0, 2, 0)
			counts := drive(mustNew(t, alg, eps), 2000, Hint{}, holds(alg))
			for _, i := range []int{0, 2, 4} {
				if counts[eps[i]] != 0 {
					t.Errorf("weight-0 endpoint %s picked %d times", eps[i].Address(), counts[eps[i]])
				}
			}
			if counts[eps[1]] == 0 || counts[eps[3]] == 0 {
				t.Errorf("counts = b:%d d:%d, want both picked", counts[eps[1]], counts[eps[3]])
			}
			// Weight 0 and excluded everywhere else: still nothing.
			var h Hint
			h.Exclude(eps[1])
			h.Exclude(eps[3])
			for e := range drive(mustNew(t, alg, eps), 200, h, false) {
				if e == nil || e.Weight() == 0 {
					t.Fatalf("picked %v with every eligible endpoint excluded, want b or d", e)
				}
			}
		})
	}
}

func TestUnhealthySkipped(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			eps := endpoints(1, 2, 3)
			a, b, c := eps[0], eps[1], eps[2]
			p := mustNew(t, alg, eps)
			b.SetHealthy(false)
			counts := drive(p, 3000, Hint{}, holds(alg))
			if counts[b] != 0 || counts[nil] != 0 {
				t.Fatalf("with b unhealthy: b picked %d times, nil %d times", counts[b], counts[nil])
			}
			if counts[a] == 0 || counts[c] == 0 {
				t.Fatalf("with b unhealthy: a %d, c %d; want both picked", counts[a], counts[c])
			}
			b.SetHealthy(true)
			if counts := drive(p, 3000, Hint{}, holds(alg)); counts[b] == 0 {
				t.Fatal("b never picked after SetHealthy(true)")
			}
		})
	}
}

func TestExclude(t *testing.T) {
	tests := []struct {
		name      string
		excluded  string // endpoints excluded by the hint
		unhealthy string
		want      string // every pick is one of these
	}{
		{"one excluded", "a", "", "bc"},
		{"two excluded", "ab", "", "c"},
		{"all excluded falls back to an excluded one", "abc", "", "abc"},
		{"fallback skips unhealthy", "ab", "c", "ab"},
		{"excluded and unhealthy cover all", "a", "bc", "a"},
		{"excluded endpoint that is unhealthy", "c", "c", "ab"},
	}
	for _, alg := range Algorithms() {
		for _, tt := range tests {
			t.Run(alg+"/"+tt.name, func(t *testing.T) {
				eps := endpoints(1, 1, 1)
				byName := map[string]*Endpoint{"a": eps[0], "b": eps[1], "c": eps[2]}
				var h Hint
				for _, r := range tt.excluded {
					h.Exclude(byName[string(r)])
				}
				for _, r := range tt.unhealthy {
					byName[string(r)].SetHealthy(false)
				}
				counts := drive(mustNew(t, alg, eps), 3000, h, holds(alg))
				for e, n := range counts {
					if e == nil {
						t.Fatalf("picked nil %d times, want one of %q", n, tt.want)
					}
				}
				for _, r := range "abc" {
					wanted := containsRune(tt.want, r)
					if n := counts[byName[string(r)]]; wanted != (n > 0) {
						t.Errorf("%c picked %d times, want one of %q and each of them picked", r, n, tt.want)
					}
				}
			})
		}
	}
}

func containsRune(s string, r rune) bool {
	for _, c := range s {
		if c == r {
			return true
		}
	}
	return false
}

// TestWeightRatio checks that weights 3:1 give 3:1 within ±5% of each
// endpoint's expected count. Deterministic algorithms get 4000 picks; those
// driven by random numbers or hashed keys get 40000, which puts the bound
// more than 5 standard deviations out, so the test does not flake.
func TestWeightRatio(t *testing.T) {
	tests := []struct {
		algorithm string
		hold      bool // keep every picked request in flight
		picks     int
	}{
		{algWeightedRoundRobin, false, 4000},
		{algWeightedRoundRobin, true, 4000},
		{algLeastConn, true, 4000},
		{algRandom, false, 40000},
		{algP2C, false, 40000},
		{algP2C, true, 40000},
		{algSourceIPHash, false, 40000},
	}
	for _, tt := range tests {
		name := tt.algorithm
		if tt.hold {
			name += "/in_flight"
		}
		t.Run(name, func(t *testing.T) {
			eps := endpoints(75, 25)
			counts := drive(mustNew(t, tt.algorithm, eps), tt.picks, Hint{}, tt.hold)
			for i, share := range []float64{0.75, 0.25} {
				want := share * float64(tt.picks)
				if got := float64(counts[eps[i]]); math.Abs(got-want) > 0.05*want {
					t.Errorf("%s picked %.0f times, want %.0f ±5%%", eps[i].Address(), got, want)
				}
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	const (
		workers = 4
		picks   = 2000
	)
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			eps := endpoints(1, 2, 3, 4)
			p := mustNew(t, alg, eps)
			stop := make(chan struct{})
			var flapper sync.WaitGroup
			flapper.Go(func() { // eps[0] stays healthy, the others flap
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
						eps[1+i%3].SetHealthy(i%2 == 0)
					}
				}
			})
			var wg sync.WaitGroup
			var nils [workers]int
			for w := range workers {
				wg.Go(func() {
					for i := range picks {
						h := Hint{Key: key(w*picks + i)}
						if i%3 == 0 {
							h.Exclude(eps[i%4])
						}
						e := p.Pick(h)
						if e == nil {
							nils[w]++
							continue
						}
						e.Acquire()
						_ = e.InFlight()
						e.Release()
					}
				})
			}
			wg.Wait()
			close(stop)
			flapper.Wait()
			for w, n := range nils {
				if n != 0 {
					t.Errorf("worker %d got nil %d times with a healthy endpoint present", w, n)
				}
			}
			for _, e := range eps {
				e.SetHealthy(true)
				if n := e.InFlight(); n != 0 {
					t.Errorf("%s: %d in flight after all releases", e.Address(), n)
				}
			}
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	tests := []struct {
		name string
		prep func(eps []*Endpoint, h *Hint)
	}{
		{"plain", func([]*Endpoint, *Hint) {}},
		{"excluded and unhealthy", func(eps []*Endpoint, h *Hint) {
			h.Exclude(eps[0])
			eps[1].SetHealthy(false)
		}},
		{"fallback to excluded", func(eps []*Endpoint, h *Hint) {
			for _, e := range eps {
				h.Exclude(e)
			}
		}},
	}
	for _, alg := range Algorithms() {
		for _, tt := range tests {
			t.Run(alg+"/"+tt.name, func(t *testing.T) {
				eps := endpoints(10, 20, 30)
				var h Hint
				tt.prep(eps, &h)
				p := mustNew(t, alg, eps)
				var i uint64
				allocs := testing.AllocsPerRun(1000, func() {
					i++
					h.Key = i
					if e := p.Pick(h); e == nil {
						panic("nil pick")
					}
				})
				if allocs != 0 {
					t.Errorf("%v allocations per Pick, want 0", allocs)
				}
			})
		}
	}
}

// weightedScan, the slow path, maps the range of r onto the endpoints it
// does not skip in proportion to weight.
func TestWeightedScan(t *testing.T) {
	eps := endpoints(1, 2, 3, 4)
	var h Hint
	h.Exclude(eps[1])
	const steps = 1 << 14
	counts := make(map[*Endpoint]int)
	for i := range uint64(steps) {
		counts[weightedScan(eps, &h, i*(math.MaxUint64/steps)+i)]++
	}
	for i, share := range []float64{1.0 / 8, 0, 3.0 / 8, 4.0 / 8} {
		want := share * steps
		if got := float64(counts[eps[i]]); math.Abs(got-want) > 0.01*want {
			t.Errorf("%s: %v of %d, want %v", eps[i].Address(), got, steps, want)
		}
	}
}
