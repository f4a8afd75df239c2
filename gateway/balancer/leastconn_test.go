package balancer

import "testing"

func TestLeastConnPicksLeastLoaded(t *testing.T) {
	tests := []struct {
		name      string
		weights   []int
		inflight  []int
		unhealthy int // index, or -1
		want      string
	}{
		{"fewest in flight", []int{1, 1, 1}, []int{3, 1, 2}, -1, "b"},
		{"per unit of weight", []int{1, 4}, []int{1, 6}, -1, "b"},    // 2/1 > 7/4
		{"heavier takes more", []int{3, 1}, []int{4, 1}, -1, "a"},    // 5/3 < 2/1
		{"idle goes to heaviest", []int{2, 1}, []int{0, 0}, -1, "a"}, // 1/2 < 1/1
		{"unhealthy skipped", []int{1, 1, 1}, []int{5, 0, 3}, 1, "c"},
		{"weight 0 skipped", []int{0, 1}, []int{0, 9}, -1, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := endpoints(tt.weights...)
			for i, n := range tt.inflight {
				for range n {
					eps[i].Acquire()
				}
			}
			if tt.unhealthy >= 0 {
				eps[tt.unhealthy].SetHealthy(false)
			}
			p := mustNew(t, algLeastConn, eps)
			for range 5 { // the rotating start must not matter
				if got := p.Pick(Hint{}); got == nil || got.Address() != tt.want {
					t.Fatalf("Pick = %v, want %s", got, tt.want)
				}
			}
		})
	}
}

func TestLeastConnTiesRotate(t *testing.T) {
	eps := endpoints(2, 2, 2, 1)
	eps[3].Acquire() // (1+1)/1 loses to (0+1)/2
	p := mustNew(t, algLeastConn, eps)
	seen := make(map[string]int)
	for range 300 {
		seen[p.Pick(Hint{}).Address()]++
	}
	for _, name := range []string{"a", "b", "c"} {
		if seen[name] != 100 {
			t.Errorf("picks %v, want a, b and c 100 times each", seen)
			break
		}
	}
}

func TestLeastConnFollowsReleases(t *testing.T) {
	eps := endpoints(1, 1)
	p := mustNew(t, algLeastConn, eps)
	a, b := eps[0], eps[1]
	a.Acquire()
	if got := p.Pick(Hint{}); got != b {
		t.Fatalf("a busy: Pick = %s, want b", got.Address())
	}
	b.Acquire()
	b.Acquire()
	a.Release()
	if got := p.Pick(Hint{}); got != a {
		t.Fatalf("b busier: Pick = %s, want a", got.Address())
	}
}
