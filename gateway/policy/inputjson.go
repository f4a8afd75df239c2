package policy

import (
	"bytes"
	"mime"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/internal/jsontext"
)

// jsonInput builds the input document as compact JSON, for the wasm
// engine: the same document inputBuilder builds as AST values, with the
// same fields for the same needs, written straight from the exchange into
// buffers reused across evaluations.
type jsonInput struct {
	buf []byte
	out []byte // scratch for builtin results (wasmInstance.writeValue)

	// Scratch for grouping repeated header fields and query parameters.
	names, values [][]byte
	dec, joined   []byte
}

// build writes the input for x into b.buf. Like inputBuilder.build, a
// request the policy cannot judge returns a deny and missing input the
// policy needs an *EvalError.
func (b *jsonInput) build(s *Stage, x *exchange.Exchange, n need) (*Decision, error) {
	r := &x.Request
	out := append(b.buf[:0], '{')
	if n&needRequest != 0 {
		out = appendMember(out, "request")
		out = append(out, '{')
		if n&needRequestID != 0 {
			out = appendMember(out, "id")
			out = jsontext.AppendBytes(out, x.RequestIDString())
		}
		if n&needMethod != 0 {
			out = appendMember(out, "method")
			out = jsontext.AppendBytes(out, r.Method)
		}
		if n&needPath != 0 {
			out = appendMember(out, "path")
			out = jsontext.AppendBytes(out, r.PathOnly())
		}
		if n&needQuery != 0 {
			out = appendMember(out, "query")
			out = b.appendQuery(out, r.Query())
		}
		if n&needHost != 0 {
			out = appendMember(out, "host")
			out = jsontext.AppendBytes(out, r.Authority)
		}
		if n&needScheme != 0 {
			out = appendMember(out, "scheme")
			out = jsontext.AppendBytes(out, r.Scheme)
		}
		if n&needProtocol != 0 {
			switch r.Protocol {
			case exchange.HTTP11, exchange.HTTP2, exchange.HTTP3:
				out = appendMember(out, "protocol")
				out = jsontext.AppendString(out, r.Protocol.String())
			}
		}
		if n&needHeaders != 0 {
			out = appendMember(out, "headers")
			out = b.appendHeaders(out, &r.Header)
		}
		if s.includeBody && n&needBody != 0 {
			var deny *Decision
			var err error
			out, deny, err = b.appendBody(out, s, r)
			if deny != nil || err != nil {
				b.buf = out
				return deny, err
			}
		}
		out = append(out, '}')
	}
	if n&needVersion != 0 {
		out = appendMember(out, "version")
		out = strconv.AppendInt(out, InputVersion, 10)
	}
	if n&needSource != 0 {
		out = appendMember(out, "source")
		out = appendAddr(out, x.Source)
	}
	if n&needDestination != 0 {
		out = appendMember(out, "destination")
		out = appendAddr(out, x.Destination)
	}
	if n&needListener != 0 {
		out = appendMember(out, "listener")
		out = jsontext.AppendString(out, x.Listener)
	}
	if n&needTLS != 0 {
		out = appendMember(out, "tls")
		out = append(out, '{', '}')
	}
	if n&needRoute != 0 {
		out = appendMember(out, "route")
		out = jsontext.AppendString(out, x.Route)
	}
	if n&needUpstream != 0 {
		out = appendMember(out, "upstream")
		out = jsontext.AppendString(out, x.Upstream)
	}
	if n&needConsumer != 0 {
		out = appendMember(out, "consumer")
		out = jsontext.AppendString(out, x.Consumer)
	}
	if raw, ok := x.Attr("claims"); ok && len(raw) > 0 && n&needClaims != 0 {
		if err := checkJSON(raw); err != nil {
			b.buf = out
			return nil, &EvalError{Policy: s.name, Reason: "claims attribute is not valid JSON", Err: err}
		}
		out = appendMember(out, "claims")
		out = append(out, raw...)
	}
	b.buf = append(out, '}')
	return nil, nil
}

// appendGrouped appends an object of names[i] → values, the fields
// repeated under one name grouped in order: into one string joined with
// ", " ("; " for cookie) when join, else into an array.
func (b *jsonInput) appendGrouped(out []byte, join bool) []byte {
	names, values := b.names, b.values
	out = append(out, '{')
	for i, name := range names {
		seen := false
		for _, prev := range names[:i] {
			if bytes.Equal(prev, name) {
				seen = true
				break
			}
		}
		if seen {
			continue
		}
		if out[len(out)-1] != '{' {
			out = append(out, ',')
		}
		out = jsontext.AppendBytes(out, name)
		out = append(out, ':')
		if join {
			sep := ", "
			if string(name) == "cookie" {
				sep = "; "
			}
			v, joined := values[i], false
			for j := i + 1; j < len(names); j++ {
				if bytes.Equal(names[j], name) {
					if !joined {
						b.joined, joined = append(b.joined[:0], v...), true
					}
					b.joined = append(append(b.joined, sep...), values[j]...)
				}
			}
			if joined {
				v = b.joined
			}
			out = jsontext.AppendBytes(out, v)
			continue
		}
		out = append(out, '[')
		out = jsontext.AppendBytes(out, values[i])
		for j := i + 1; j < len(names); j++ {
			if bytes.Equal(names[j], name) {
				out = append(out, ',')
				out = jsontext.AppendBytes(out, values[j])
			}
		}
		out = append(out, ']')
	}
	return append(out, '}')
}

// appendHeaders appends the headers object: lower-case names, repeated
// fields joined with ", " ("; " for cookie).
func (b *jsonInput) appendHeaders(out []byte, h *exchange.Header) []byte {
	b.names, b.values = b.names[:0], b.values[:0]
	h.Range(func(name, value []byte) bool {
		b.names = append(b.names, name)
		b.values = append(b.values, value)
		return true
	})
	out = b.appendGrouped(out, true)
	clear(b.names)
	clear(b.values)
	return out
}

// appendQuery appends the query object, name → [values], decoded like
// inputBuilder.queryObject.
func (b *jsonInput) appendQuery(out, q []byte) []byte {
	b.names, b.values, b.dec = b.names[:0], b.values[:0], b.dec[:0]
	queryPairs(q, func(name, value []byte) {
		b.names = append(b.names, b.unescape(name))
		b.values = append(b.values, b.unescape(value))
	})
	out = b.appendGrouped(out, false)
	clear(b.names)
	clear(b.values)
	return out
}

// unescape decodes a query component like url.QueryUnescape, keeping it
// raw when it does not decode. Decoded components are views of b.dec,
// which is only appended to: when it grows, earlier views keep the old
// array.
func (b *jsonInput) unescape(p []byte) []byte {
	if bytes.IndexByte(p, '%') < 0 && bytes.IndexByte(p, '+') < 0 {
		return p
	}
	s, err := url.QueryUnescape(string(p))
	if err != nil {
		return p
	}
	start := len(b.dec)
	b.dec = append(b.dec, s...)
	return b.dec[start:len(b.dec):len(b.dec)]
}

// appendAddr appends {"address", "port"}; {} when ap is not valid.
func appendAddr(out []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(out, '{', '}')
	}
	out = append(out, `{"address":"`...)
	out = ap.Addr().AppendTo(out)
	out = append(out, `","port":`...)
	out = strconv.AppendUint(out, uint64(ap.Port()), 10)
	return append(out, '}')
}

// appendBody appends raw_body and body, or returns the deny or failure
// that replaces the evaluation, as inputBuilder.addBody.
func (b *jsonInput) appendBody(out []byte, s *Stage, r *exchange.Request) ([]byte, *Decision, error) {
	if r.ContentLength > s.maxBody || int64(len(r.Body)) > s.maxBody {
		return out, bodyTooLarge(s), nil
	}
	if !r.BodyBuffered && r.ContentLength != 0 {
		return out, nil, errBodyStreamed(s)
	}
	raw := r.Body
	out = appendMember(out, "raw_body")
	out = jsontext.AppendBytes(out, raw)
	if len(raw) == 0 {
		return out, nil, nil
	}
	mt, _, _ := mime.ParseMediaType(string(r.Header.Peek("content-type")))
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if err := checkJSON(raw); err != nil {
			return out, &Decision{Status: 400, Reason: "malformed JSON request body: " + err.Error()}, nil
		}
		out = appendMember(out, "body")
		out = append(out, raw...)
	case mt == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return out, &Decision{Status: 400, Reason: "malformed form request body: " + err.Error()}, nil
		}
		out = appendMember(out, "body")
		out = append(out, '{')
		i := 0
		for name, vs := range vals {
			if i > 0 {
				out = append(out, ',')
			}
			i++
			out = jsontext.AppendString(out, name)
			out = append(out, ':', '[')
			for j, v := range vs {
				if j > 0 {
					out = append(out, ',')
				}
				out = jsontext.AppendString(out, v)
			}
			out = append(out, ']')
		}
		out = append(out, '}')
	}
	return out, nil, nil
}

// appendMember appends ,"k": to an object that has members already.
func appendMember(out []byte, k string) []byte {
	if out[len(out)-1] != '{' {
		out = append(out, ',')
	}
	out = append(out, '"')
	out = append(out, k...)
	return append(out, '"', ':')
}
