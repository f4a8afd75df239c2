// Package balancer chooses the upstream endpoint for each proxied request.
//
// It is the native Go load balancer on the hot path: a Picker is safe for
// concurrent use, never blocks (no locks, no I/O; only atomics) and allocates
// nothing per Pick. Pickers are immutable snapshots of an endpoint list; to
// add or remove endpoints, build a new Picker with New. Endpoints carry the
// live state (in-flight count, health) and may be shared between the old and
// the new Picker.
//
// A typical request with one retry:
//
//	h := balancer.Hint{Key: balancer.HashAddr(clientIP)}
//	for try := 0; try <= retries; try++ {
//		ep := picker.Pick(h)
//		if ep == nil {
//			return 503
//		}
//		ep.Acquire()
//		err := forward(ep)
//		ep.Release()
//		if !retryable(err) {
//			break
//		}
//		h.Exclude(ep)
//	}
package balancer

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync/atomic"
)

// MaxEndpoints is the largest number of endpoints a Picker accepts.
const MaxEndpoints = 1<<16 - 1

// ErrUnknownAlgorithm is wrapped by the error New returns for an algorithm
// name that is not one of Algorithms().
var ErrUnknownAlgorithm = errors.New("balancer: unknown algorithm")

// Picker chooses an endpoint for a request. Implementations are safe for
// concurrent use, never block and do not allocate.
type Picker interface {
	// Pick returns an eligible endpoint (positive weight, healthy), preferring
	// one the Hint does not exclude. If every eligible endpoint is excluded,
	// it returns one of them: a retry on the same endpoint is better than no
	// answer. It returns nil only when no endpoint is eligible (the caller
	// answers 503).
	Pick(h Hint) *Endpoint
}

// Algorithm names accepted by New.
const (
	algRoundRobin         = "round_robin"
	algWeightedRoundRobin = "weighted_round_robin"
	algLeastConn          = "least_conn"
	algRandom             = "random"
	algP2C                = "p2c"
	algSourceIPHash       = "source_ip_hash"
)

// Algorithms returns the algorithm names New accepts, for configuration
// validation and its messages:
//
//   - round_robin: each eligible endpoint in turn; weights other than 0 are ignored.
//   - weighted_round_robin: smooth weighted round robin (weights 5,1,1 give
//     a a b a c a a); equal weights are plain round robin.
//   - least_conn: the endpoint with the fewest in-flight requests per unit of
//     weight, (in-flight+1)/weight; ties rotate.
//   - random: weighted random.
//   - p2c: power of two choices: two weighted-random candidates, the one with
//     fewer in-flight requests per unit of weight wins.
//   - source_ip_hash: consistent hashing (Maglev) of Hint.Key, weighted.
func Algorithms() []string {
	return []string{
		algRoundRobin,
		algWeightedRoundRobin,
		algLeastConn,
		algRandom,
		algP2C,
		algSourceIPHash,
	}
}

// New returns a Picker that applies the named algorithm (one of Algorithms())
// to endpoints. The slice is copied; the Endpoints are shared. Endpoints of
// weight 0 are never picked. An empty list is valid: its Picker returns nil.
// New fails on an unknown algorithm (wrapping ErrUnknownAlgorithm), a nil or
// repeated endpoint, or more than MaxEndpoints endpoints.
//
// New does the expensive work (schedules, hash tables) once; call it when the
// endpoint list changes, not per request.
func New(algorithm string, endpoints []*Endpoint) (Picker, error) {
	eps, err := weighted(endpoints)
	if err != nil {
		return nil, err
	}
	switch algorithm {
	case algRoundRobin:
		return newRoundRobin(eps), nil
	case algWeightedRoundRobin:
		return newWeightedRoundRobin(eps), nil
	case algLeastConn:
		return &leastConn{eps: eps}, nil
	case algRandom:
		return &random{t: newAliasTable(eps)}, nil
	case algP2C:
		return &p2c{t: newAliasTable(eps)}, nil
	case algSourceIPHash:
		return newMaglev(eps), nil
	}
	return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownAlgorithm, algorithm, strings.Join(Algorithms(), ", "))
}

// weighted checks endpoints and returns a copy without the weight-0 ones,
// which can never become eligible.
func weighted(endpoints []*Endpoint) ([]*Endpoint, error) {
	if len(endpoints) > MaxEndpoints {
		return nil, fmt.Errorf("balancer: %d endpoints, at most %d allowed", len(endpoints), MaxEndpoints)
	}
	seen := make(map[*Endpoint]struct{}, len(endpoints))
	eps := make([]*Endpoint, 0, len(endpoints))
	for i, e := range endpoints {
		if e == nil {
			return nil, fmt.Errorf("balancer: endpoint %d is nil", i)
		}
		if _, dup := seen[e]; dup {
			return nil, fmt.Errorf("balancer: endpoint %q is listed twice", e.address)
		}
		seen[e] = struct{}{}
		if e.weight > 0 {
			eps = append(eps, e)
		}
	}
	return eps, nil
}

// paddedCounter is an atomic counter alone on its cache line, so that the
// increments of every Pick do not evict the read-only fields next to it.
type paddedCounter struct {
	_ [cacheLine]byte
	n atomic.Uint64
	_ [cacheLine - 8]byte
}

// walkLimit bounds how many table entries a Pick inspects, past unhealthy or
// excluded ones, before it falls back to a full scan: enough to step over a
// few failed endpoints in a table of length l, never more than the table.
func walkLimit(endpoints, l int) uint64 {
	return uint64(min(l, 2*endpoints+16))
}

// weightedScan picks among the endpoints that h does not skip with
// probability proportional to weight, r being a uniformly distributed number
// (random, or a hash for a deterministic answer). It reads every endpoint
// twice and is the slow path of the table-based algorithms. It ignores slow
// start, which only ever shifts traffic to other eligible endpoints.
func weightedScan(eps []*Endpoint, h *Hint, r uint64) *Endpoint {
	var total uint64
	for _, e := range eps {
		if !h.unavailable(e) {
			total += uint64(e.weight)
		}
	}
	if total == 0 {
		return nil
	}
	x, _ := bits.Mul64(r, total) // uniform in [0, total)
	var last *Endpoint
	for _, e := range eps {
		if h.unavailable(e) {
			continue
		}
		w := uint64(e.weight)
		if x < w {
			return e
		}
		x -= w
		last = e
	}
	return last // health changed between the two passes
}
