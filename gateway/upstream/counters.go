package upstream

import (
	"sync/atomic"

	"github.com/wasmgate/wasmgate/gateway/balancer"
)

// EndpointCounters counts what the tries sent to one endpoint came to:
// responses by status class, and tries that got no response by reason.
// Every try counts once, retried ones too, on every path (the plain
// path reports through ObserveResponse and ObserveFailure). It is safe
// for concurrent use. EndpointConfig.Counters hands an endpoint's counters
// to its successor in a reloaded config, so they grow on across reloads.
type EndpointCounters struct {
	responses [6]atomic.Uint64            // by StatusClass
	failures  [numFailKinds]atomic.Uint64 // by failKind
}

// EndpointCount is a snapshot of EndpointCounters.
type EndpointCount struct {
	// Responses by status class: [0] is 1xx … [4] 5xx, [5] anything else.
	Responses [6]uint64
	// Tries without a response: Connect could not connect; Reset lost the
	// connection (or got no whole head) after sending; Timeout got no head
	// in time; Protocol got an invalid response; Refused got HTTP/2
	// REFUSED_STREAM; Overflow was never sent (the endpoint's connection
	// limit or a circuit breaker). A try the client gave up, or whose
	// request body was at fault, is not counted.
	Connect, Reset, Timeout, Protocol, Refused, Overflow uint64
}

// record counts one try.
func (c *EndpointCounters) record(kind failKind, status int) {
	if kind != failNone {
		c.failures[kind].Add(1)
		return
	}
	c.responses[StatusClass(status)].Add(1)
}

// StatusClass is the index of status's class among the six that the
// metrics count: 0 for 1xx … 4 for 5xx, 5 for any other status.
func StatusClass(status int) int {
	if status < 100 || status > 599 {
		return 5
	}
	return status/100 - 1
}

// Load returns the counts.
func (c *EndpointCounters) Load() EndpointCount {
	var n EndpointCount
	for i := range c.responses {
		n.Responses[i] = c.responses[i].Load()
	}
	f := func(k failKind) uint64 { return c.failures[k].Load() }
	n.Connect, n.Reset, n.Timeout = f(failConnect), f(failReset), f(failTimeout)
	n.Protocol, n.Refused = f(failProtocol), f(failRefused)
	n.Overflow = f(failPoolFull) + f(failBreakerConns) + f(failBreakerPending)
	return n
}

// Counters returns the counters of ep, one of u's endpoints; nil for any
// other endpoint.
func (u *Upstream) Counters(ep *balancer.Endpoint) *EndpointCounters {
	if p := u.pools[ep]; p != nil {
		return p.st.count
	}
	return nil
}
