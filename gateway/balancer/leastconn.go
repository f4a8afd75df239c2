package balancer

// leastConn is weighted least connections: the eligible endpoint with the
// smallest (in-flight+1)/weight. Counting the request about to be sent (+1)
// makes weights matter on idle endpoints too. Loads are compared by cross
// multiplication, without division or floats. Each Pick starts its scan one
// place further round the list, so endpoints with equal load take turns.
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
	i := (p.next.n.Add(1) - 1) % n
	var (
		best            *Endpoint
		bestLoad, bestW int64
	)
	for range n {
		if e := p.eps[i]; !h.skip(e) {
			load, w := e.load()+1, int64(e.weight)
			// load/w < bestLoad/bestW; loads stay far below 2^56, weights ≤ 100.
			if best == nil || load*bestW < bestLoad*w {
				best, bestLoad, bestW = e, load, w
			}
		}
		if i++; i == n {
			i = 0
		}
	}
	return best
}
