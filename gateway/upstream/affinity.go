package upstream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/balancer"
)

// Session affinity types, the values of Affinity.Type.
const (
	// AffinitySourceIP keeps a client IP on one endpoint: consistent
	// hashing (Maglev) of the address, whatever the balancer.
	AffinitySourceIP = "source_ip"
	// AffinityCookie makes the gateway set a cookie naming the endpoint
	// that answered; later requests with it go to that endpoint.
	AffinityCookie = "cookie"
	// AffinityAppCookie follows a cookie the application sets: requests
	// carrying a value of it go to the endpoint that set that value.
	AffinityAppCookie = "app_cookie"
	// AffinityHeader hashes a request header like AffinitySourceIP does
	// the client IP.
	AffinityHeader = "header"
)

// MaxAffinityTTL is the longest affinity cookie lifetime.
const MaxAffinityTTL = 24 * time.Hour

// Affinity configures session affinity. Affinity yields to health: a
// request whose endpoint is unhealthy, ejected, drained (weight 0) or has
// already failed this request goes where the balancer sends it, and a
// cookie then moves to the endpoint that answered.
type Affinity struct {
	// Type is one of the Affinity constants.
	Type string
	// Cookie is the cookie name: the gateway's cookie (default
	// "wg_affinity") or the application's (required).
	Cookie string
	// Header is the request header of AffinityHeader.
	Header string
	// TTL is how long a cookie binds (default 20m, at most 24h). A
	// gateway cookie carries its expiry and is set again when less than
	// half of it is left; an application cookie value is remembered for
	// TTL after it was last seen.
	TTL time.Duration
	// Path, Domain, HTTPOnly, Secure and SameSite ("Lax", "Strict",
	// "None" or "" for none) are the gateway cookie's attributes; Path
	// defaults to "/".
	Path, Domain     string
	HTTPOnly, Secure bool
	SameSite         string
	// Key signs gateway cookies with HMAC-SHA256 so clients cannot choose
	// their endpoint; without it the cookie is opaque but not protected.
	Key []byte
	// TableSize is how many application cookie values are remembered
	// (rounded up to a power of two, default 65536); an older value whose
	// slot is reused loses its binding.
	TableSize int
}

// affinity is an upstream's session affinity.
type affinity struct {
	cfg     Affinity
	u       *Upstream
	byID    map[uint64]*epState
	ids     []uint64        // cookie id per endpoint index
	hash    balancer.Picker // Maglev over the endpoints: source_ip, header
	table   []appEntry      // app_cookie
	mask    uint64
	attrs   string // "; Path=/; Max-Age=1200; HttpOnly; SameSite=Lax"
	scratch sync.Pool
}

// affinityState is one request's affinity.
type affinityState struct {
	target *epState // the endpoint the request is bound to, nil if none
	key    uint64   // the hash key (source_ip, header); 0 for none
	issue  bool     // set the gateway cookie on the response
	appKey uint64   // hash of the application cookie value; 0 for none
}

// affScratch is per-request working memory, pooled so that affinity does
// not allocate.
type affScratch struct {
	mac hash.Hash
	msg [16]byte
	sum []byte
	buf []byte
}

// appEntry binds an application cookie value (its hash) to an endpoint
// index and an expiry (Unix seconds): val = index<<40 | expiry.
type appEntry struct {
	key, val atomic.Uint64
}

func newAffinity(cfg *Affinity, u *Upstream) (*affinity, error) {
	a := &affinity{cfg: *cfg, u: u}
	c := &a.cfg
	if c.TTL <= 0 {
		c.TTL = 20 * time.Minute
	}
	if c.TTL > MaxAffinityTTL {
		return nil, fmt.Errorf("affinity ttl %v exceeds %v", c.TTL, MaxAffinityTTL)
	}
	switch c.Type {
	case AffinitySourceIP:
	case AffinityHeader:
		if c.Header == "" {
			return nil, errors.New("header affinity needs a header name")
		}
	case AffinityCookie:
		if c.Cookie == "" {
			c.Cookie = "wg_affinity"
		}
		if c.Path == "" {
			c.Path = "/"
		}
		attrs := "; Path=" + c.Path + "; Max-Age=" + strconv.Itoa(int(c.TTL/time.Second))
		if c.Domain != "" {
			attrs += "; Domain=" + c.Domain
		}
		if c.Secure {
			attrs += "; Secure"
		}
		if c.HTTPOnly {
			attrs += "; HttpOnly"
		}
		if c.SameSite != "" {
			attrs += "; SameSite=" + c.SameSite
		}
		a.attrs = attrs
		a.byID = make(map[uint64]*epState, len(u.states))
		for _, s := range u.states {
			id := endpointID(s.ep.Address())
			a.ids = append(a.ids, id)
			if _, dup := a.byID[id]; !dup {
				a.byID[id] = s
			}
		}
		key := c.Key
		a.scratch.New = func() any {
			sc := &affScratch{buf: make([]byte, 0, 128), sum: make([]byte, 0, sha256.Size)}
			if len(key) > 0 {
				sc.mac = hmac.New(sha256.New, key)
			}
			return sc
		}
	case AffinityAppCookie:
		if c.Cookie == "" {
			return nil, errors.New("app_cookie affinity needs the cookie name")
		}
		n := 1
		for n < max(c.TableSize, 1) {
			n <<= 1
		}
		if c.TableSize <= 0 {
			n = 1 << 16
		}
		a.table = make([]appEntry, n)
		a.mask = uint64(n - 1)
	default:
		return nil, fmt.Errorf("unknown affinity type %q", c.Type)
	}
	if c.Type == AffinitySourceIP || c.Type == AffinityHeader {
		p, err := balancer.New("source_ip_hash", u.endpoints)
		if err != nil {
			return nil, err
		}
		a.hash = p
	}
	return a, nil
}

// begin reads the request's affinity.
func (a *affinity) begin(req *fasthttp.Request, call *Call, st *affinityState) {
	*st = affinityState{}
	switch a.cfg.Type {
	case AffinitySourceIP:
		st.key = call.Hint.Key
	case AffinityHeader:
		if v := req.Header.Peek(a.cfg.Header); len(v) > 0 {
			st.key = hashBytes(v) | 1
		}
	case AffinityCookie:
		st.issue = true
		v := cookieValue(&req.Header, a.cfg.Cookie)
		if len(v) == 0 {
			return
		}
		id, exp, ok := a.parse(v)
		if !ok {
			return
		}
		now := time.Now().Unix()
		left := exp - now
		if left <= 0 {
			return
		}
		st.target = a.byID[id]
		st.issue = st.target == nil || left < int64(a.cfg.TTL/time.Second)/2
	case AffinityAppCookie:
		v := cookieValue(&req.Header, a.cfg.Cookie)
		if len(v) == 0 {
			return
		}
		st.appKey = hashBytes(v) | 1
		if idx, ok := a.lookup(st.appKey); ok {
			st.target = a.u.states[idx]
		}
	}
}

// pick returns the request's affinity endpoint when it may take the try.
func (a *affinity) pick(hint *balancer.Hint, st *affinityState) *balancer.Endpoint {
	if st.key != 0 {
		h := *hint
		h.Key = st.key
		return a.hash.Pick(h)
	}
	if t := st.target; t != nil && t.ep.Eligible() && !hint.Excluded(t.ep) {
		return t.ep
	}
	return nil
}

// done records the endpoint that answered: it sets the gateway cookie, or
// remembers an application cookie value.
func (a *affinity) done(answered *epState, resp *fasthttp.Response, st *affinityState) {
	switch a.cfg.Type {
	case AffinityCookie:
		if st.issue || st.target != answered {
			a.setCookie(resp, answered)
		}
	case AffinityAppCookie:
		exp := time.Now().Add(a.cfg.TTL).Unix()
		if sc := resp.Header.PeekCookie(a.cfg.Cookie); len(sc) > 0 {
			if v := setCookieValue(sc, len(a.cfg.Cookie)); len(v) > 0 {
				a.store(hashBytes(v)|1, answered.idx, exp)
			}
		}
		if st.appKey != 0 {
			// The session follows its endpoint, and moves when it had to.
			a.store(st.appKey, answered.idx, exp)
		}
	}
}

// setCookie adds the gateway cookie for s to resp.
func (a *affinity) setCookie(resp *fasthttp.Response, s *epState) {
	sc := a.scratch.Get().(*affScratch)
	b := append(sc.buf[:0], a.cfg.Cookie...)
	b = append(b, '=')
	exp := time.Now().Add(a.cfg.TTL).Unix()
	b = appendValue(b, sc, a.ids[s.idx], exp)
	b = append(b, a.attrs...)
	resp.Header.AddBytesV("Set-Cookie", b)
	sc.buf = b
	a.scratch.Put(sc)
}

// appendValue appends the cookie value ID.EXPIRY[.MAC] in hex.
func appendValue(b []byte, sc *affScratch, id uint64, exp int64) []byte {
	b = appendHex(b, id, 16)
	b = append(b, '.')
	b = appendHex(b, uint64(exp), 0)
	if sc.mac != nil {
		b = append(b, '.')
		sum := macOf(sc, id, exp)
		for _, c := range sum[:16] {
			b = append(b, hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return b
}

func macOf(sc *affScratch, id uint64, exp int64) []byte {
	// The message lives in sc: a local array would escape through the
	// interface call and allocate.
	binary.BigEndian.PutUint64(sc.msg[:8], id)
	binary.BigEndian.PutUint64(sc.msg[8:], uint64(exp))
	sc.mac.Reset()
	sc.mac.Write(sc.msg[:])
	sc.sum = sc.mac.Sum(sc.sum[:0])
	return sc.sum
}

// parse checks a gateway cookie value and returns its endpoint id and
// expiry.
func (a *affinity) parse(v []byte) (id uint64, exp int64, ok bool) {
	id, v, ok = parseHex(v)
	if !ok || len(v) == 0 || v[0] != '.' {
		return 0, 0, false
	}
	e, v, ok := parseHex(v[1:])
	if !ok || e > 1<<62 {
		return 0, 0, false
	}
	exp = int64(e)
	if len(a.cfg.Key) == 0 {
		return id, exp, len(v) == 0
	}
	if len(v) != 33 || v[0] != '.' {
		return 0, 0, false
	}
	sc := a.scratch.Get().(*affScratch)
	sum := macOf(sc, id, exp)
	var diff byte
	for i, c := range sum[:16] {
		diff |= v[1+2*i] ^ hexDigits[c>>4]
		diff |= v[2+2*i] ^ hexDigits[c&15]
	}
	a.scratch.Put(sc)
	return id, exp, diff == 0
}

// lookup finds the endpoint index bound to an application cookie hash.
func (a *affinity) lookup(key uint64) (int, bool) {
	e := &a.table[key&a.mask]
	if e.key.Load() != key {
		return 0, false
	}
	v := e.val.Load()
	if e.key.Load() != key {
		return 0, false
	}
	idx, exp := int(v>>40), int64(v&(1<<40-1))
	if exp < time.Now().Unix() || idx >= len(a.u.states) {
		return 0, false
	}
	return idx, true
}

// store binds an application cookie hash to an endpoint index until exp.
// Writers racing on one slot may lose a binding, never corrupt one beyond
// a wrong endpoint for that one value: the table is a cache.
func (a *affinity) store(key uint64, idx int, exp int64) {
	e := &a.table[key&a.mask]
	v := uint64(idx)<<40 | uint64(exp)&(1<<40-1)
	if e.key.Load() == key && e.val.Load()>>40 == uint64(idx) && int64(e.val.Load()&(1<<40-1))-exp > -int64(a.cfg.TTL/time.Second)/2 {
		return // bound to the same endpoint, with more than half the TTL left
	}
	e.key.Store(0)
	e.val.Store(v)
	e.key.Store(key)
}

// cookieValue returns the value of the named request cookie. fasthttp
// collects the Cookie headers into a list it reuses (as it does anyway when
// a stage lists the headers), so this allocates nothing; the forwarded
// Cookie header is then written from that list.
func cookieValue(h *fasthttp.RequestHeader, name string) []byte {
	return h.Cookie(name)
}

// setCookieValue returns the value of a Set-Cookie header whose name has
// n bytes.
func setCookieValue(sc []byte, n int) []byte {
	if len(sc) <= n || sc[n] != '=' {
		return nil
	}
	v := sc[n+1:]
	for i, c := range v {
		if c == ';' {
			v = v[:i]
			break
		}
	}
	return trimQuotes(trimSpace(v))
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func trimQuotes(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendHex appends x in lower-case hex, padded to width digits.
func appendHex(b []byte, x uint64, width int) []byte {
	var tmp [16]byte
	i := len(tmp)
	for x != 0 || i == len(tmp) {
		i--
		tmp[i] = hexDigits[x&15]
		x >>= 4
	}
	for len(tmp)-i < width {
		i--
		tmp[i] = '0'
	}
	return append(b, tmp[i:]...)
}

// parseHex parses up to 16 lower-case hex digits at the start of b.
func parseHex(b []byte) (uint64, []byte, bool) {
	var x uint64
	n := 0
	for n < len(b) && n < 17 {
		c := b[n]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return x, b[n:], n > 0 && n <= 16
		}
		x = x<<4 | uint64(d)
		n++
	}
	return x, b[n:], n > 0 && n <= 16
}

// endpointID is the stable id of an endpoint in gateway cookies: a hash of
// its address, the same in every replica and after reloads.
func endpointID(addr string) uint64 { return hashBytes([]byte(addr)) }

// hashBytes is 64-bit FNV-1a with a final mix.
func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}
