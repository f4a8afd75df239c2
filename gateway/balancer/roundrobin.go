package balancer

// roundRobin and weightedRoundRobin share one lock-free design: a schedule
// of endpoint indexes computed once by New, and an atomic ticket counter.
// Each Pick takes the next ticket and walks the schedule from there past
// unhealthy or excluded entries; when it had to step over k entries it moves
// the counter on by k too, so the following Picks start after the endpoint
// just chosen and the remaining endpoints keep their proportions.
type weightedRoundRobin struct {
	eps   []*Endpoint
	sched []uint16 // indexes into eps
	walk  uint64   // see walkLimit
	next  paddedCounter
}

// newRoundRobin schedules every endpoint once: round robin ignores weights
// (weight-0 endpoints were already left out by New).
func newRoundRobin(eps []*Endpoint) *weightedRoundRobin {
	sched := make([]uint16, len(eps))
	for i := range sched {
		sched[i] = uint16(i)
	}
	return &weightedRoundRobin{eps: eps, sched: sched, walk: walkLimit(len(eps), len(sched))}
}

// newWeightedRoundRobin schedules the endpoints in smooth weighted order.
func newWeightedRoundRobin(eps []*Endpoint) *weightedRoundRobin {
	w := make([]int, len(eps))
	for i, e := range eps {
		w[i] = e.weight
	}
	sched := smoothSchedule(w)
	return &weightedRoundRobin{eps: eps, sched: sched, walk: walkLimit(len(eps), len(sched))}
}

// Pick implements Picker.
func (p *weightedRoundRobin) Pick(h Hint) *Endpoint {
	if e := p.pick(&h); e != nil || h.n == 0 {
		return e
	}
	return p.pick(&Hint{})
}

func (p *weightedRoundRobin) pick(h *Hint) *Endpoint {
	l := uint64(len(p.sched))
	if l == 0 {
		return nil
	}
	t := p.next.n.Add(1) - 1
	i := t % l
	for s := range p.walk {
		if e := p.eps[p.sched[i]]; !h.skip(e) {
			if s > 0 {
				p.next.n.Add(s)
			}
			return e
		}
		if i++; i == l {
			i = 0
		}
	}
	if p.walk == l {
		// The walk saw every entry: nothing is eligible, unless warming
		// endpoints (slow start) lost their draws.
		return weightedScan(p.eps, h, mix64(t))
	}
	// A long run of unavailable entries (a heavy endpoint is down): move the
	// tickets past it and answer by weight from a full scan meanwhile.
	p.next.n.Add(p.walk)
	return weightedScan(p.eps, h, mix64(t))
}

// smoothSchedule returns one cycle of nginx's smooth weighted round robin
// for weights (all positive), reduced by their greatest common divisor: at
// every step each endpoint's current value grows by its weight, the largest
// (lowest index on ties) is chosen and loses the total weight. Weights 5,1,1
// give 0 0 1 0 2 0 0.
//
// Done naively that is O(cycle × endpoints). Endpoints of equal weight
// always take their turns in index order and all share the same value until
// chosen, so this tracks one value per distinct weight (at most MaxWeight)
// and is O(cycle × distinct weights).
func smoothSchedule(weights []int) []uint16 {
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	type group struct {
		w, v    int      // weight; current value of the members not yet chosen this round
		members []uint16 // endpoint indexes, ascending
		p       int      // next member to choose
	}
	var groups []group
	slot := make(map[int]int) // weight -> index in groups
	total := 0
	for i, w := range weights {
		w /= g
		total += w
		k, ok := slot[w]
		if !ok {
			k = len(groups)
			slot[w] = k
			groups = append(groups, group{w: w})
		}
		groups[k].members = append(groups[k].members, uint16(i))
	}
	sched := make([]uint16, 0, total)
	for range total {
		best := -1
		for k := range groups {
			gr := &groups[k]
			gr.v += gr.w
			if best < 0 {
				best = k
				continue
			}
			b := &groups[best]
			if gr.v > b.v || (gr.v == b.v && gr.members[gr.p] < b.members[b.p]) {
				best = k
			}
		}
		gr := &groups[best]
		sched = append(sched, gr.members[gr.p])
		// The chosen member's value drops by total; once every member was
		// chosen they are level again, total lower.
		if gr.p++; gr.p == len(gr.members) {
			gr.p = 0
			gr.v -= total
		}
	}
	return sched
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
