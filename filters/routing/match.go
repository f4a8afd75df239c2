package routing

import (
	"net/url"
	"strings"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// request is what matching reads from a request. Headers are read only
// when a condition needs them.
type request struct {
	host    string // lower-case, without port
	path    string // without query
	query   string // after '?', "" if none
	method  string
	headers proxywasm.HeaderMap
}

// lookup returns the entry of the route that takes r, or nil.
func (t *table) lookup(r *request) *entry {
	if es, ok := t.exact[r.host]; ok {
		if e := first(es, r); e != nil {
			return e
		}
	}
	for _, e := range t.wildcard {
		if len(r.host) > len(e.suffix) && strings.HasSuffix(r.host, e.suffix) && e.m.match(r) {
			return e
		}
	}
	return first(t.anyHost, r)
}

func first(es []*entry, r *request) *entry {
	for _, e := range es {
		if e.m.match(r) {
			return e
		}
	}
	return nil
}

// match reports whether every condition of m holds for r.
func (m *matcher) match(r *request) bool {
	switch m.pathKind {
	case pathExact:
		if r.path != m.path {
			return false
		}
	case pathPrefix:
		if !hasPathPrefix(r.path, m.path) {
			return false
		}
	case pathRegex:
		if !m.re.MatchString(r.path) {
			return false
		}
	}
	if len(m.methods) > 0 {
		ok := false
		for _, meth := range m.methods {
			if meth == r.method {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range m.headers {
		v, ok := r.headers.Get(m.headers[i].name)
		if !m.headers[i].test(v, ok) {
			return false
		}
	}
	for i := range m.query {
		v, ok := queryValue(r.query, m.query[i].name)
		if !m.query[i].test(v, ok) {
			return false
		}
	}
	return true
}

// hasPathPrefix reports whether path starts with the segments of prefix
// (written without a trailing '/'; "" is the root): /v1 matches /v1 and
// /v1/x, not /v10.
func hasPathPrefix(path, prefix string) bool {
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

func (v *valueMatcher) test(val string, present bool) bool {
	switch v.kind {
	case valuePresent:
		return present
	case valueAbsent:
		return !present
	case valueExact:
		return present && val == v.exact
	default:
		return present && v.re.MatchString(val)
	}
}

// queryValue returns the first value of the query parameter name in a raw
// query string, decoded. It allocates only for values that need decoding.
func queryValue(query, name string) (string, bool) {
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(kv, "=")
		if needsUnescape(k) {
			dk, err := url.QueryUnescape(k)
			if err != nil {
				continue
			}
			k = dk
		}
		if k != name {
			continue
		}
		if needsUnescape(v) {
			dv, err := url.QueryUnescape(v)
			if err != nil {
				return v, true
			}
			v = dv
		}
		return v, true
	}
	return "", false
}

func needsUnescape(s string) bool { return strings.ContainsAny(s, "%+") }

// splitAuthority returns the lower-case host of an authority and its port
// ("" if none). IPv6 literals keep their brackets. It allocates only when
// the host has upper-case letters.
func splitAuthority(a string) (host, port string) {
	host = a
	if i := strings.LastIndexByte(a, ':'); i >= 0 && !strings.Contains(a[i:], "]") {
		if j := strings.IndexByte(a, ':'); j == i || strings.HasPrefix(a, "[") {
			host, port = a[:i], a[i+1:]
		}
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(host), port
		}
	}
	return host, port
}
