package balancer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestRoundRobinSequences(t *testing.T) {
	tests := []struct {
		name      string
		algorithm string
		weights   []int
		unhealthy []int
		want      string
	}{
		{"rr equal", algRoundRobin, []int{1, 1, 1}, nil, "a b c a b c a"},
		{"rr ignores weights", algRoundRobin, []int{75, 25}, nil, "a b a b a b"},
		{"rr skips weight 0", algRoundRobin, []int{1, 0, 1}, nil, "a c a c a c"},
		{"rr skips unhealthy evenly", algRoundRobin, []int{1, 1, 1}, []int{1}, "a c a c a c"},
		{"rr single", algRoundRobin, []int{7}, nil, "a a a"},
		{"wrr smooth 5,1,1", algWeightedRoundRobin, []int{5, 1, 1}, nil, "a a b a c a a a a b a c a a"},
		{"wrr reduced by gcd", algWeightedRoundRobin, []int{50, 10, 10}, nil, "a a b a c a a a a b a c a a"},
		{"wrr 3:1", algWeightedRoundRobin, []int{75, 25}, nil, "a a b a a a b a"},
		{"wrr equal is round robin", algWeightedRoundRobin, []int{40, 40, 40}, nil, "a b c a b c a"},
		{"wrr 2,0,1", algWeightedRoundRobin, []int{2, 0, 1}, nil, "a c a a c a"},
		{"wrr heavy unhealthy", algWeightedRoundRobin, []int{5, 1, 1}, []int{0}, "b c b c b c"},
		{"wrr light unhealthy", algWeightedRoundRobin, []int{5, 1, 1}, []int{1}, "a a a c a a a a a c a a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := endpoints(tt.weights...)
			for _, i := range tt.unhealthy {
				eps[i].SetHealthy(false)
			}
			p := mustNew(t, tt.algorithm, eps)
			if got := sequence(p, len(strings.Fields(tt.want))); got != tt.want {
				t.Errorf("picks %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRoundRobinRecovers(t *testing.T) {
	for _, alg := range []string{algRoundRobin, algWeightedRoundRobin} {
		eps := endpoints(1, 1, 1)
		p := mustNew(t, alg, eps)
		eps[1].SetHealthy(false)
		if got, want := sequence(p, 4), "a c a c"; got != want {
			t.Fatalf("%s with b unhealthy: %q, want %q", alg, got, want)
		}
		eps[1].SetHealthy(true)
		if got, want := sequence(p, 6), "a b c a b c"; got != want {
			t.Errorf("%s after b recovers: %q, want %q", alg, got, want)
		}
	}
}

// A heavy endpoint down leaves runs in the schedule longer than a pick walks
// (weights 100,1,1: about 50 in a row); picks then fall back to a weighted
// scan and still never return the unhealthy endpoint, and spread over the
// others.
func TestWeightedRoundRobinLongRun(t *testing.T) {
	eps := endpoints(100, 1, 1)
	eps[0].SetHealthy(false)
	p := mustNew(t, algWeightedRoundRobin, eps)
	counts := drive(p, 2000, Hint{}, false)
	if counts[eps[0]] != 0 || counts[nil] != 0 || counts[eps[1]] < 800 || counts[eps[2]] < 800 {
		t.Errorf("counts a:%d b:%d c:%d nil:%d, want a and nil 0, b and c about 1000",
			counts[eps[0]], counts[eps[1]], counts[eps[2]], counts[nil])
	}
}

// referenceSmooth is nginx's smooth weighted round robin done the slow,
// obvious way, for comparison.
func referenceSmooth(weights []int, steps int) []uint16 {
	total := 0
	for _, w := range weights {
		total += w
	}
	cur := make([]int, len(weights))
	out := make([]uint16, steps)
	for s := range out {
		best := 0
		for i, w := range weights {
			cur[i] += w
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out[s] = uint16(best)
	}
	return out
}

func TestSmoothScheduleMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 40; n++ {
		weights := make([]int, n)
		for i := range weights {
			switch n % 3 { // few distinct weights, many, and multiples
			case 0:
				weights[i] = 1 + r.IntN(3)
			case 1:
				weights[i] = 1 + r.IntN(MaxWeight)
			default:
				weights[i] = 10 * (1 + r.IntN(10))
			}
		}
		got := smoothSchedule(weights)
		if want := referenceSmooth(weights, len(got)); !slices.Equal(got, want) {
			t.Fatalf("weights %v:\n got %v\nwant %v", weights, got, want)
		}
		g := 0
		for _, w := range weights {
			g = gcd(g, w)
		}
		count := make([]int, n)
		for _, i := range got {
			count[i]++
		}
		for i, w := range weights {
			if count[i] != w/g {
				t.Fatalf("weights %v: endpoint %d appears %d times in the cycle, want %d", weights, i, count[i], w/g)
			}
		}
	}
}
