package policy

import (
	"encoding/binary"
	"net/netip"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// DefaultCacheSize is the number of decisions a stage caches when
// Config.CacheSize is 0.
const DefaultCacheSize = 4096

// maxCacheKey bounds the key of a cacheable request; requests with more
// input than this (long paths, many headers when the policy reads them)
// are evaluated every time.
const maxCacheKey = 1 << 10

// decisionCache maps the input fields a policy reads, encoded as a key, to
// the decision it made. It is sound only for deterministic policies (see
// cacheable) and only holds successful decisions: failures are evaluated
// again. Entries never go stale: the policy and its data are immutable
// for the life of the stage.
type decisionCache struct {
	mu  sync.RWMutex
	m   map[string]*Decision
	max int
}

func newDecisionCache(size int) *decisionCache {
	return &decisionCache{m: make(map[string]*Decision, min(size, 1024)), max: size}
}

func (c *decisionCache) get(key []byte) *Decision {
	c.mu.RLock()
	d := c.m[string(key)]
	c.mu.RUnlock()
	return d
}

func (c *decisionCache) put(key []byte, d *Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Evict about an eighth, in map order: random enough to keep hot
		// entries on average, and O(1) amortised.
		n := max(c.max/8, 1)
		for k := range c.m {
			delete(c.m, k)
			if n--; n == 0 {
				break
			}
		}
	}
	c.m[string(key)] = d
}

// uncacheableBuiltins are builtins whose result depends on more than their
// arguments: OPA's nondeterministic ones, and those reading the clock.
func uncacheableBuiltins() map[string]bool {
	m := map[string]bool{
		"io.jwt.decode_verify": true, // checks exp and nbf against now
	}
	for _, b := range ast.Builtins {
		if b.Nondeterministic {
			m[b.Name] = true
		}
	}
	return m
}

// cacheable reports whether a policy's decision is a function of its input
// fields and data only: it calls no uncacheable builtin, and does not read
// the request id (unique per request), the body (too large for a key) or
// tls.
func cacheable(n need, query ast.Body, modules []*ast.Module) bool {
	// tls is constant (empty) today; when it carries connection data, the
	// key must include it: until then a policy reading it is not cached.
	if n&(needRequestID|needBody|needTLS) != 0 {
		return false
	}
	bad := uncacheableBuiltins()
	ok := true
	check := func(op ast.Ref) {
		if bad[op.String()] {
			ok = false
		}
	}
	visit := func(x any) {
		ast.WalkExprs(x, func(e *ast.Expr) bool {
			if e.IsCall() {
				check(e.Operator())
			}
			return !ok
		})
		ast.WalkTerms(x, func(t *ast.Term) bool {
			if call, isCall := t.Value.(ast.Call); isCall && len(call) > 0 {
				if op, isRef := call[0].Value.(ast.Ref); isRef {
					check(op)
				}
			}
			return !ok
		})
	}
	visit(query)
	for _, m := range modules {
		visit(m)
	}
	return ok
}

// appendKey appends to key the input fields n selects, each length
// prefixed so that no two inputs share a key. ok is false when the key
// would exceed maxCacheKey.
func appendKey(key []byte, n need, x *exchange.Exchange) (_ []byte, ok bool) {
	r := &x.Request
	field := func(p []byte) {
		key = binary.AppendUvarint(key, uint64(len(p)))
		key = append(key, p...)
	}
	if n&needMethod != 0 {
		field(r.Method)
	}
	if n&needPath != 0 {
		field(r.PathOnly())
	}
	if n&needQuery != 0 {
		field(r.Query())
	}
	if n&needHost != 0 {
		field(r.Authority)
	}
	if n&needScheme != 0 {
		field(r.Scheme)
	}
	if n&needProtocol != 0 {
		key = append(key, byte(r.Protocol))
	}
	if n&needHeaders != 0 {
		key = binary.AppendUvarint(key, uint64(r.Header.Len()))
		r.Header.Range(func(name, value []byte) bool {
			field(name)
			field(value)
			return len(key) <= maxCacheKey
		})
	}
	if n&needSource != 0 {
		key = appendAddrPort(key, x.Source)
	}
	if n&needDestination != 0 {
		key = appendAddrPort(key, x.Destination)
	}
	if n&needListener != 0 {
		field(stringBytes(x.Listener))
	}
	if n&needRoute != 0 {
		field(stringBytes(x.Route))
	}
	if n&needUpstream != 0 {
		field(stringBytes(x.Upstream))
	}
	if n&needConsumer != 0 {
		field(stringBytes(x.Consumer))
	}
	if n&needClaims != 0 {
		claims, _ := x.Attr("claims")
		field(claims)
	}
	return key, len(key) <= maxCacheKey
}

// appendAddrPort appends ap as a 1-byte length, the address bytes and the
// port.
func appendAddrPort(key []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	switch {
	case a.Is4():
		b := a.As4()
		key = append(append(key, 4), b[:]...)
	case a.Is6():
		b := a.As16()
		key = append(append(key, 16), b[:]...)
	default:
		key = append(key, 0)
	}
	return binary.BigEndian.AppendUint16(key, ap.Port())
}
