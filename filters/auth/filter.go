// Package auth is wasmgate's built-in authentication filter (builtin:auth):
// key-auth (API keys of declared consumers, from a header or a query
// parameter), HTTP basic auth (bcrypt hashes) and JWT bearer tokens (HS256,
// RS256, ES256; inline keys or a JWKS; iss, aud, exp and nbf checked with
// clock skew). A request without a valid credential gets 401 with
// WWW-Authenticate and never reaches the upstream, unless it is anonymous
// (configured path prefixes or route names).
//
// It sets these per-request properties for later stages, policies and logs:
//
//	wasmgate.consumer     the authenticated consumer
//	wasmgate.auth_method  key, basic or jwt
//	wasmgate.claims       a JWT's claims, a JSON object
//
// The configuration schema is documented in filters/README.md.
//
// The package is a library: cmd/auth is the filter as a module of its own,
// and filters/builtin links it with the other built-in filters into the
// one module the gateway embeds (see filters/README.md).
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
	"golang.org/x/crypto/bcrypt"
)

// Property names under proxywasm.AttributePrefix beyond the SDK's.
const (
	attrMethod = "auth_method"
	attrClaims = "claims"
)

// maxTokenCache bounds the verified JWTs an instance remembers.
const maxTokenCache = 1024

// root holds the compiled configuration and, per instance, what was
// already verified: a bcrypt check costs milliseconds, a signature check
// tens of microseconds, both far more than a map lookup.
type root struct {
	proxywasm.DefaultRootContext
	s   *settings
	now func() time.Time

	basicOK map[string][32]byte    // user → sha256 of the last good password
	tokens  map[[32]byte]*verified // sha256(token) → verified claims

	free []*httpContext // contexts of finished requests, for reuse
}

// maxFree bounds the contexts a root keeps for reuse.
const maxFree = 64

func newRoot(uint32) proxywasm.RootContext { return &root{now: time.Now} }

// NewRoot creates the filter's root context: the factory to pass to
// proxywasm.SetRootContext.
func NewRoot(contextID uint32) proxywasm.RootContext { return newRoot(contextID) }

// OnConfigure compiles the configuration; a bad one is rejected (and the
// previous one, if any, kept).
func (r *root) OnConfigure(config []byte) bool {
	s, err := parseConfig(config)
	if err != nil {
		proxywasm.LogError(err.Error())
		return false
	}
	r.s = s
	r.basicOK = map[string][32]byte{}
	r.tokens = map[[32]byte]*verified{}
	return true
}

// HTTPCallbacks tells the host that requests need OnRequestHeaders only.
func (r *root) HTTPCallbacks() proxywasm.HTTPCallback { return proxywasm.CallRequestHeaders }

func (r *root) NewHTTPContext(s proxywasm.Stream) proxywasm.HTTPContext {
	if r.s == nil {
		return nil
	}
	if n := len(r.free); n > 0 {
		c := r.free[n-1]
		r.free = r.free[:n-1]
		c.s = s
		return c
	}
	return &httpContext{s: s, r: r}
}

// httpContext authenticates one request.
type httpContext struct {
	proxywasm.DefaultHTTPContext
	s proxywasm.Stream
	r *root
}

// OnDelete ends a request: the context goes back to its root for the next
// one (an allocation per request costs more than the rest of the callback
// in a Wasm guest).
func (c *httpContext) OnDelete() {
	c.s = proxywasm.Stream{}
	if len(c.r.free) < maxFree {
		c.r.free = append(c.r.free, c)
	}
}

// outcome of one method.
const (
	absent = iota // the request carries no credential for the method
	valid
	invalid
)

func (c *httpContext) OnRequestHeaders(int, bool) proxywasm.Action {
	st := c.r.s
	h := c.s.RequestHeaders()
	// Never let a client supply what only this filter may say.
	if st.consumerH != "" {
		_ = h.Remove(st.consumerH)
	}
	if st.claimsH != "" {
		_ = h.Remove(st.claimsH)
	}
	rawPath, _ := h.Get(":path")
	path, query, _ := strings.Cut(rawPath, "?")

	for _, m := range st.methods {
		var res int
		var consumer, claims string
		switch m {
		case methodKey:
			res, consumer = c.key(h, rawPath, query)
		case methodBasic:
			res, consumer = c.basic(h)
		case methodJWT:
			res, consumer, claims = c.jwt(h, rawPath, query)
		}
		switch res {
		case invalid:
			return c.refuse(m)
		case valid:
			c.accept(h, m, consumer, claims)
			return proxywasm.Continue
		}
	}
	if c.anonymous(path) {
		return proxywasm.Continue
	}
	return c.refuse("")
}

// anonymous reports whether the request may go without credentials: it is
// not protected (when protected is set) or it is anonymous.
func (c *httpContext) anonymous(path string) bool {
	st := c.r.s
	route, routeRead := "", false
	in := func(rs *requestSet) bool {
		for _, p := range rs.paths {
			if strings.HasPrefix(path, p) && (len(path) == len(p) || path[len(p)] == '/') {
				return true
			}
		}
		if len(rs.routes) == 0 {
			return false
		}
		if !routeRead {
			route, _ = c.s.Attribute(proxywasm.AttributeRoute)
			routeRead = true
		}
		for _, r := range rs.routes {
			if r == route && route != "" {
				return true
			}
		}
		return false
	}
	return st.protected != nil && !in(st.protected) || st.anon != nil && in(st.anon)
}

// accept records the consumer and tells the upstream if configured.
func (c *httpContext) accept(h proxywasm.HeaderMap, method, consumer, claims string) {
	st := c.r.s
	c.set(proxywasm.AttributeConsumer, consumer)
	c.set(attrMethod, method)
	if claims != "" {
		c.set(attrClaims, claims)
	}
	if st.consumerH != "" {
		_ = h.Set(st.consumerH, consumer)
	}
	if st.claimsH != "" && claims != "" {
		_ = h.Set(st.claimsH, claims)
	}
}

func (c *httpContext) set(name, value string) {
	if err := c.s.SetAttribute(name, value); err != nil {
		proxywasm.LogError("auth: set property wasmgate." + name + ": " + err.Error())
	}
}

// refuse answers 401: for a missing credential (method "") with a
// challenge per configured method, for an invalid one with that method's.
func (c *httpContext) refuse(method string) proxywasm.Action {
	st := c.r.s
	headers := [][2]string{{"content-type", "text/plain; charset=utf-8"}}
	reason := "missing credentials"
	if method == "" {
		headers = append(headers, st.challenges...)
	} else {
		reason = "invalid credentials"
		for i, m := range st.methods {
			if m == method {
				ch := st.challenges[i]
				if m == methodJWT {
					ch[1] += `, error="invalid_token"`
				}
				headers = append(headers, ch)
			}
		}
	}
	headers = append(headers, [2]string{"x-wasmgate-reason", reason})
	if err := c.s.SendLocalResponse(401, []byte("unauthorized\n"), headers); err != nil {
		proxywasm.LogError("auth: local response: " + err.Error())
		return proxywasm.Continue // the host fails the request per the stage's fail policy
	}
	return proxywasm.Pause
}

// key checks an API key from the key header or query parameter.
func (c *httpContext) key(h proxywasm.HeaderMap, rawPath, query string) (int, string) {
	st := c.r.s
	var k string
	var fromQuery, found bool
	if st.keyHeader != "" {
		k, found = h.Get(st.keyHeader)
	}
	if !found && st.keyQuery != "" && query != "" {
		k, found = queryValue(query, st.keyQuery)
		fromQuery = found
	}
	if !found {
		return absent, ""
	}
	consumer, ok := st.keys[sha256.Sum256([]byte(k))]
	if !ok {
		proxywasm.LogDebug("auth: unknown key")
		return invalid, ""
	}
	if st.hide {
		if fromQuery {
			c.removeQuery(h, rawPath, st.keyQuery)
		} else {
			_ = h.Remove(st.keyHeader)
		}
	}
	return valid, consumer
}

// basic checks "Authorization: Basic base64(user:password)".
func (c *httpContext) basic(h proxywasm.HeaderMap) (int, string) {
	auth, ok := h.Get("authorization")
	if !ok {
		return absent, ""
	}
	scheme, cred, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "basic") {
		return absent, ""
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return invalid, ""
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	hash, known := c.r.s.users[user]
	if !ok || !known {
		return invalid, ""
	}
	sum := sha256.Sum256([]byte(pass))
	if last, ok := c.r.basicOK[user]; !ok || subtle.ConstantTimeCompare(last[:], sum[:]) != 1 {
		if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
			return invalid, ""
		}
		c.r.basicOK[user] = sum
	}
	if c.r.s.hide {
		_ = h.Remove("authorization")
	}
	return valid, user
}

// jwt checks a bearer token from the configured header or query parameter.
func (c *httpContext) jwt(h proxywasm.HeaderMap, rawPath, query string) (int, string, string) {
	j := c.r.s.jwt
	var token string
	var found, fromQuery bool
	if j.header != "" {
		if v, ok := h.Get(j.header); ok {
			scheme, t, _ := strings.Cut(v, " ")
			if strings.EqualFold(scheme, "bearer") {
				token, found = strings.TrimSpace(t), true
			}
		}
	}
	if !found && j.query != "" && query != "" {
		token, found = queryValue(query, j.query)
		fromQuery = found
	}
	if !found {
		return absent, "", ""
	}
	sum := sha256.Sum256([]byte(token))
	v, cached := c.r.tokens[sum]
	if !cached {
		var err error
		v, err = j.verify(token)
		if err != nil {
			proxywasm.LogDebug("auth: jwt: " + err.Error())
			return invalid, "", ""
		}
		if len(c.r.tokens) >= maxTokenCache {
			for k := range c.r.tokens { // evict one, arbitrarily
				delete(c.r.tokens, k)
				break
			}
		}
		c.r.tokens[sum] = v
	}
	if err := j.checkTimes(v, c.r.now().Unix()); err != nil {
		proxywasm.LogDebug("auth: jwt: " + err.Error())
		return invalid, "", ""
	}
	if c.r.s.hide {
		if fromQuery {
			c.removeQuery(h, rawPath, j.query)
		} else {
			_ = h.Remove(j.header)
		}
	}
	return valid, v.consumer, v.claims
}

// removeQuery drops every value of the query parameter name from :path.
func (c *httpContext) removeQuery(h proxywasm.HeaderMap, rawPath, name string) {
	path, query, _ := strings.Cut(rawPath, "?")
	var kept []string
	for _, kv := range strings.Split(query, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if k != name && kv != "" {
			kept = append(kept, kv)
		}
	}
	if len(kept) > 0 {
		path += "?" + strings.Join(kept, "&")
	}
	if err := h.Set(":path", path); err != nil {
		proxywasm.LogError("auth: remove credential from the query: " + err.Error())
	}
}

// queryValue returns the first value of the query parameter name, decoded.
func queryValue(query, name string) (string, bool) {
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(k, "%+") {
			if dk, err := url.QueryUnescape(k); err == nil {
				k = dk
			}
		}
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if dv, err := url.QueryUnescape(v); err == nil {
				v = dv
			}
		}
		return v, true
	}
	return "", false
}
