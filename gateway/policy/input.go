package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/netip"
	"net/url"
	"strings"
	"unsafe"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// InputVersion is the version of the input document, input.version. It
// changes only when a field changes meaning or goes away.
const InputVersion = 1

// need is a set of input fields a policy may read. A stage builds only
// those: an input document costs allocations per field, and most policies
// read a handful.
type need uint32

const (
	needRequestID need = 1 << iota
	needMethod
	needPath
	needQuery
	needHost
	needScheme
	needProtocol
	needHeaders
	needBody // body and raw_body
	needSource
	needDestination
	needListener
	needTLS
	needRoute
	needUpstream
	needConsumer
	needClaims
	needVersion

	needRequest = needRequestID | needMethod | needPath | needQuery | needHost | needScheme |
		needProtocol | needHeaders | needBody
	needAll = needRequest | needSource | needDestination | needListener | needTLS | needRoute |
		needUpstream | needConsumer | needClaims | needVersion
)

// needOf maps input.KEY and input.request.KEY to what they need.
func needOf(top string, sub *string) need {
	switch top {
	case "request":
		if sub == nil {
			return needRequest
		}
		switch *sub {
		case "id":
			return needRequestID
		case "method":
			return needMethod
		case "path":
			return needPath
		case "query":
			return needQuery
		case "host":
			return needHost
		case "scheme":
			return needScheme
		case "protocol":
			return needProtocol
		case "headers":
			return needHeaders
		case "body", "raw_body":
			return needBody
		}
		return 0
	case "source":
		return needSource
	case "destination":
		return needDestination
	case "listener":
		return needListener
	case "tls":
		return needTLS
	case "route":
		return needRoute
	case "upstream":
		return needUpstream
	case "consumer":
		return needConsumer
	case "claims":
		return needClaims
	case "version":
		return needVersion
	}
	return 0
}

// inputNeeds returns the input fields that the modules and the query may
// read: every reference rooted at input, through its constant prefix. A
// reference to input as a whole, or with a variable key, needs all of it.
func inputNeeds(query ast.Body, modules []*ast.Module) need {
	var n need
	var visit func(t *ast.Term) bool
	visit = func(t *ast.Term) bool {
		switch v := t.Value.(type) {
		case ast.Var:
			// input on its own, not as the head of a reference.
			if v.Equal(ast.InputRootDocument.Value) {
				n = needAll
			}
		case ast.Ref:
			if !v[0].Equal(ast.InputRootDocument) {
				return false // descend: keys may hold references
			}
			n |= refNeeds(v)
			for _, k := range v[1:] {
				ast.WalkTerms(k, visit)
			}
			return true
		}
		return false
	}
	ast.WalkTerms(query, visit)
	for _, m := range modules {
		ast.WalkTerms(m, visit)
	}
	return n
}

// refNeeds is what a reference rooted at input needs.
func refNeeds(r ast.Ref) need {
	if len(r) < 2 {
		return needAll
	}
	top, ok := r[1].Value.(ast.String)
	if !ok {
		return needAll
	}
	var sub *string
	if len(r) > 2 {
		if s, ok := r[2].Value.(ast.String); ok {
			str := string(s)
			sub = &str
		}
	}
	return needOf(string(top), sub)
}

// keys holds the input's object keys and constant values as terms, built
// once per stage and shared, read-only, by every evaluation.
type keys struct {
	version, request, id, method, path, query, host, scheme, protocol, headers,
	body, rawBody, source, destination, address, port, listener, tls, route,
	upstream, consumer, claims *ast.Term

	versionValue *ast.Term
	protocols    map[exchange.Protocol]*ast.Term
	// common maps frequent header names to their key terms, so that the
	// input does not allocate a key for each.
	common map[string]*ast.Term
}

func newKeys() *keys {
	s := ast.StringTerm
	k := &keys{
		version: s("version"), request: s("request"), id: s("id"), method: s("method"),
		path: s("path"), query: s("query"), host: s("host"), scheme: s("scheme"),
		protocol: s("protocol"), headers: s("headers"), body: s("body"), rawBody: s("raw_body"),
		source: s("source"), destination: s("destination"), address: s("address"), port: s("port"),
		listener: s("listener"), tls: s("tls"), route: s("route"), upstream: s("upstream"),
		consumer: s("consumer"), claims: s("claims"),
		versionValue: ast.IntNumberTerm(InputVersion),
		protocols: map[exchange.Protocol]*ast.Term{
			exchange.HTTP11: s(exchange.HTTP11.String()),
			exchange.HTTP2:  s(exchange.HTTP2.String()),
			exchange.HTTP3:  s(exchange.HTTP3.String()),
		},
		common: map[string]*ast.Term{},
	}
	for _, h := range []string{
		"accept", "accept-encoding", "accept-language", "authorization", "cache-control",
		"connection", "content-length", "content-type", "cookie", "forwarded", "origin",
		"referer", "traceparent", "user-agent", "via", "x-api-key", "x-forwarded-for",
		"x-forwarded-host", "x-forwarded-proto", "x-real-ip", "x-request-id",
	} {
		k.common[h] = s(h)
	}
	return k
}

// inputBuilder builds one input document. Its strings are views of one
// append-only buffer and its terms come from a slab, so that the input
// costs a few allocations rather than several per field.
type inputBuilder struct {
	buf   []byte
	terms []ast.Term
}

// str returns a String viewing a copy of p in b's buffer. Bytes once
// appended are never written again: when the buffer grows, earlier views
// keep the old array alive.
func (b *inputBuilder) str(p []byte) ast.Value {
	if len(p) == 0 {
		return ast.InternedValue("")
	}
	start := len(b.buf)
	b.buf = append(b.buf, p...)
	return ast.String(unsafe.String(&b.buf[start], len(p)))
}

// term wraps v in a term from the slab.
func (b *inputBuilder) term(v ast.Value) *ast.Term {
	if len(b.terms) == cap(b.terms) {
		b.terms = make([]ast.Term, 0, 32)
	}
	b.terms = append(b.terms, ast.Term{Value: v})
	return &b.terms[len(b.terms)-1]
}

func (b *inputBuilder) strTerm(p []byte) *ast.Term { return b.term(b.str(p)) }

// build returns the input for x. A request the policy cannot judge (body
// too large or malformed) returns a deny decision instead; missing input
// the policy needs returns an *EvalError.
func (b *inputBuilder) build(s *Stage, x *exchange.Exchange, n need) (ast.Value, *Decision, error) {
	k := s.keys
	r := &x.Request
	size, terms := 64, 16
	if n&(needPath|needQuery|needHost) != 0 {
		size += len(r.Path) + len(r.Authority)
	}
	if n&needHeaders != 0 {
		r.Header.Range(func(name, value []byte) bool {
			size += len(name) + len(value)
			return true
		})
		terms += 2 * r.Header.Len()
	}
	b.buf = make([]byte, 0, size)
	b.terms = make([]ast.Term, 0, terms)

	in := ast.NewObjectWithCapacity(12)
	if n&needRequest != 0 {
		req := ast.NewObjectWithCapacity(10)
		if n&needRequestID != 0 {
			req.Insert(k.id, b.strTerm(x.RequestIDString()))
		}
		if n&needMethod != 0 {
			req.Insert(k.method, b.internedOr(r.Method))
		}
		if n&needPath != 0 {
			req.Insert(k.path, b.strTerm(r.PathOnly()))
		}
		if n&needQuery != 0 {
			req.Insert(k.query, b.term(b.queryObject(r.Query())))
		}
		if n&needHost != 0 {
			req.Insert(k.host, b.strTerm(r.Authority))
		}
		if n&needScheme != 0 {
			req.Insert(k.scheme, b.internedOr(r.Scheme))
		}
		if t := k.protocols[r.Protocol]; t != nil && n&needProtocol != 0 {
			req.Insert(k.protocol, t)
		}
		if n&needHeaders != 0 {
			req.Insert(k.headers, b.term(b.headerObject(k, &r.Header)))
		}
		if s.includeBody && n&needBody != 0 {
			if deny, err := b.addBody(s, req, r); deny != nil || err != nil {
				return nil, deny, err
			}
		}
		in.Insert(k.request, b.term(req))
	}
	if n&needVersion != 0 {
		in.Insert(k.version, k.versionValue)
	}
	if n&needSource != 0 {
		in.Insert(k.source, b.term(b.addrObject(k, x.Source)))
	}
	if n&needDestination != 0 {
		in.Insert(k.destination, b.term(b.addrObject(k, x.Destination)))
	}
	if n&needListener != 0 {
		in.Insert(k.listener, b.term(b.str(stringBytes(x.Listener))))
	}
	if n&needTLS != 0 {
		in.Insert(k.tls, b.term(ast.NewObject()))
	}
	if n&needRoute != 0 {
		in.Insert(k.route, b.term(b.str(stringBytes(x.Route))))
	}
	if n&needUpstream != 0 {
		in.Insert(k.upstream, b.term(b.str(stringBytes(x.Upstream))))
	}
	if n&needConsumer != 0 {
		in.Insert(k.consumer, b.term(b.str(stringBytes(x.Consumer))))
	}
	if raw, ok := x.Attr("claims"); ok && len(raw) > 0 && n&needClaims != 0 {
		claims, err := parseJSON(raw)
		if err != nil {
			return nil, nil, &EvalError{Policy: s.name, Reason: "claims attribute is not valid JSON", Err: err}
		}
		in.Insert(k.claims, b.term(claims))
	}
	return in, nil, nil
}

// internedOr returns the interned term for common values such as "GET" or
// "http", else a new one.
func (b *inputBuilder) internedOr(p []byte) *ast.Term {
	if ast.HasInternedValue(string(p)) {
		return ast.InternedTerm(string(p))
	}
	return b.strTerm(p)
}

func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// headerObject maps lower-case names to values; repeated fields are joined
// with ", " ("; " for cookie), as HTTP allows.
func (b *inputBuilder) headerObject(k *keys, h *exchange.Header) ast.Object {
	obj := ast.NewObjectWithCapacity(h.Len())
	h.Range(func(name, value []byte) bool {
		key := k.common[string(name)]
		if key == nil {
			key = b.strTerm(name)
		}
		if prev := obj.Get(key); prev != nil {
			sep := ", "
			if string(name) == "cookie" {
				sep = "; "
			}
			joined := string(prev.Value.(ast.String)) + sep + string(value)
			obj.Insert(key, b.term(ast.String(joined)))
			return true
		}
		obj.Insert(key, b.strTerm(value))
		return true
	})
	return obj
}

// queryObject parses a raw query into name → [values]. Undecodable pairs
// are kept raw rather than dropped.
func (b *inputBuilder) queryObject(q []byte) ast.Object {
	obj := ast.NewObject()
	queryPairs(q, func(name, value []byte) {
		kt := b.term(b.unescape(name))
		vt := b.term(b.unescape(value))
		if prev := obj.Get(kt); prev != nil {
			if arr, ok := prev.Value.(*ast.Array); ok {
				obj.Insert(kt, b.term(arr.Append(vt)))
				return
			}
		}
		obj.Insert(kt, b.term(ast.NewArray(vt)))
	})
	return obj
}

// queryPairs calls fn with the raw name and value of every non-empty pair
// of a raw query, in order (both input builders parse queries alike).
func queryPairs(q []byte, fn func(name, value []byte)) {
	for len(q) > 0 {
		var pair []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, nil
		}
		if len(pair) == 0 {
			continue
		}
		name, value, _ := bytes.Cut(pair, []byte{'='})
		fn(name, value)
	}
}

// unescape decodes a query component like url.QueryUnescape, keeping it
// raw when it does not decode.
func (b *inputBuilder) unescape(p []byte) ast.Value {
	if bytes.IndexByte(p, '%') < 0 && bytes.IndexByte(p, '+') < 0 {
		return b.str(p)
	}
	s, err := url.QueryUnescape(string(p))
	if err != nil {
		return b.str(p)
	}
	return ast.String(s)
}

// addrObject is {"address", "port"}; empty when ap is not valid.
func (b *inputBuilder) addrObject(k *keys, ap netip.AddrPort) ast.Object {
	obj := ast.NewObjectWithCapacity(2)
	if !ap.IsValid() {
		return obj
	}
	start := len(b.buf)
	b.buf = ap.Addr().AppendTo(b.buf)
	obj.Insert(k.address, b.term(ast.String(unsafe.String(&b.buf[start], len(b.buf)-start))))
	obj.Insert(k.port, ast.InternedTerm(int(ap.Port())))
	return obj
}

// addBody adds body and raw_body to the request object, or returns the
// deny or failure that replaces the evaluation.
func (b *inputBuilder) addBody(s *Stage, req ast.Object, r *exchange.Request) (*Decision, error) {
	k := s.keys
	if r.ContentLength > s.maxBody || int64(len(r.Body)) > s.maxBody {
		return bodyTooLarge(s), nil
	}
	if !r.BodyBuffered && r.ContentLength != 0 {
		return nil, errBodyStreamed(s)
	}
	raw := r.Body
	req.Insert(k.rawBody, b.strTerm(raw))
	if len(raw) == 0 {
		return nil, nil
	}
	ct := string(r.Header.Peek("content-type"))
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		v, err := parseJSON(raw)
		if err != nil {
			return &Decision{Status: 400, Reason: "malformed JSON request body: " + err.Error()}, nil
		}
		req.Insert(k.body, b.term(v))
	case mt == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return &Decision{Status: 400, Reason: "malformed form request body: " + err.Error()}, nil
		}
		obj := ast.NewObjectWithCapacity(len(vals))
		for name, vs := range vals {
			arr := make([]*ast.Term, len(vs))
			for i, v := range vs {
				arr[i] = ast.StringTerm(v)
			}
			obj.Insert(ast.StringTerm(name), ast.ArrayTerm(arr...))
		}
		req.Insert(k.body, b.term(obj))
	}
	return nil, nil
}

// bodyTooLarge is the deny of a body over MaxBody.
func bodyTooLarge(s *Stage) *Decision {
	return &Decision{Status: 413, Reason: fmt.Sprintf("request body exceeds the policy's max_body of %d bytes", s.maxBody)}
}

// errBodyStreamed is the failure of a policy that needs a body the front
// end did not buffer.
func errBodyStreamed(s *Stage) error {
	return &EvalError{Policy: s.name, Reason: "request body not available to the policy: the front end streamed it"}
}

// parseJSON parses one JSON document, rejecting trailing data.
func parseJSON(raw []byte) (ast.Value, error) {
	if err := checkJSON(raw); err != nil {
		return nil, err
	}
	return ast.ValueFromReader(bytes.NewReader(raw))
}

// checkJSON returns why raw is not one JSON document, or nil.
func checkJSON(raw []byte) error {
	if json.Valid(raw) {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	return fmt.Errorf("invalid JSON")
}
