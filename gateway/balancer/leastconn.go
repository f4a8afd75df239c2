package balancer

// leastConn is weighted least connections: the eligible endpoint with the
// smallest (in-flight+1)/weight. Counting the request about to be sent (+1)
// makes weights matter on idle endpoints too. Loads are compared by cross
// multiplication, without division or floats. Each Pick starts its scan one
// place further round the list (and after the last choice when it was a
// tie), so endpoints with equal load take turns.
type leastConn struct {
	eps  []*Endpoint
	next paddedCounter
}

// Pick implements Picker.
func (p *leastConn) Pick(h Hint) *Endpoint {
	if e := p.pick(&h); e != nil || h.n == 0 {
		return e
	}
	return p.pick(&Hint{})
}

func (p *leastConn) pick(h *Hint) *Endpoint {
	n := uint64(len(p.eps))
	if n == 0 {
		return nil
	}
	start := (p.next.n.Add(1) - 1) % n
	var (
		best            *Endpoint
		bestLoad, bestW int64
		bestAt          uint64 // distance of best from start
		tied            bool   // another endpoint had best's load
	)
	i := start
	for d := range n {
		if e := p.eps[i]; !h.skip(e) {
			load, w := e.load()+1, int64(e.weight)
			// Compare load/w with bestLoad/bestW; loads stay far below 2^56
			// and weights are at most MaxWeight, so the products fit.
			switch l, r := load*bestW, bestLoad*w; {
			case best == nil || l < r:
				best, bestLoad, bestW, bestAt, tied = e, load, w, d, false
			case l == r:
				tied = true
			}
		}
		if i++; i == n {
			i = 0
		}
	}
	// On a tie, the next Pick must start after the endpoint chosen now, or
	// the tied endpoint that follows an untied one would get its turns too.
	if tied && bestAt > 0 {
		p.next.n.Add(bestAt)
	}
	if best == nil {
		// Nothing eligible, or only warming endpoints (slow start) that
		// lost their draws: those are still better than no answer.
		return weightedScan(p.eps, h, mix64(start))
	}
	return best
}
