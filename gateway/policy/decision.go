package policy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Decision is a policy's verdict on one request.
type Decision struct {
	// Allow lets the request continue.
	Allow bool
	// Status is a deny's response status; 0 means DefaultDenyStatus. It is
	// 0 on an allow.
	Status int
	// Headers are set on the upstream request (replacing what the client
	// sent) on an allow, and added to the local response on a deny.
	Headers []Header
	// Body is a deny's response body; nil means "STATUS Text\n".
	Body []byte
	// Reason explains the decision in logs; it is never sent to the client.
	Reason string
}

// Header is a header field of a decision. Name is lower case.
type Header struct{ Name, Value string }

// decide reads a decision value: a boolean, or an object
// {allow, status, headers, body, reason}.
func decide(v ast.Value) (Decision, error) {
	switch v := v.(type) {
	case ast.Boolean:
		return Decision{Allow: bool(v)}, nil
	case ast.Object:
		return decideObject(v)
	}
	return Decision{}, fmt.Errorf("a decision is a boolean or an object, not %s", ast.ValueName(v))
}

func decideObject(o ast.Object) (Decision, error) {
	var d Decision
	var err error
	o.Foreach(func(k, v *ast.Term) {
		if err != nil {
			return
		}
		key, ok := k.Value.(ast.String)
		if !ok {
			err = fmt.Errorf("decision key %v is not a string", k)
			return
		}
		switch key {
		case "allow":
			b, ok := v.Value.(ast.Boolean)
			if !ok {
				err = fmt.Errorf("decision allow must be a boolean, not %s", ast.ValueName(v.Value))
				return
			}
			d.Allow = bool(b)
		case "status":
			d.Status, err = decisionStatus(v.Value)
		case "headers":
			d.Headers, err = decisionHeaders(v.Value)
		case "body":
			d.Body, err = decisionBody(v.Value)
		case "reason":
			if s, ok := v.Value.(ast.String); ok {
				d.Reason = string(s)
			} else {
				d.Reason = v.String()
			}
		}
	})
	if err != nil {
		return Decision{}, err
	}
	if d.Allow {
		d.Status, d.Body = 0, nil
	} else if d.Body != nil && !hasHeader(d.Headers, "content-type") {
		// A string body is text; other JSON values were encoded as JSON.
		if _, isText := o.Get(ast.InternedTerm("body")).Value.(ast.String); !isText {
			d.Headers = append(d.Headers, Header{Name: "content-type", Value: "application/json"})
		}
	}
	return d, nil
}

func decisionStatus(v ast.Value) (int, error) {
	n, ok := v.(ast.Number)
	if ok {
		if i, isInt := n.Int(); isInt && i >= 200 && i <= 599 {
			return i, nil
		}
	}
	return 0, fmt.Errorf("decision status must be a whole number from 200 to 599, not %v", v)
}

func decisionHeaders(v ast.Value) ([]Header, error) {
	o, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("decision headers must be an object, not %s", ast.ValueName(v))
	}
	var out []Header
	var err error
	o.Foreach(func(k, v *ast.Term) {
		if err != nil {
			return
		}
		name, ok := k.Value.(ast.String)
		if !ok || !validHeaderName(string(name)) {
			err = fmt.Errorf("decision header name %v is not a valid field name", k)
			return
		}
		lname := strings.ToLower(string(name))
		add := func(t *ast.Term) {
			s, ok := t.Value.(ast.String)
			if !ok || !validHeaderValue(string(s)) {
				err = fmt.Errorf("decision header %q: value %v is not a string without control characters", lname, t)
				return
			}
			out = append(out, Header{Name: lname, Value: string(s)})
		}
		if arr, ok := v.Value.(*ast.Array); ok {
			arr.Foreach(add)
			return
		}
		add(v)
	})
	return out, err
}

// decisionBody returns a string body as is and any other value as JSON.
func decisionBody(v ast.Value) ([]byte, error) {
	if s, ok := v.(ast.String); ok {
		return []byte(s), nil
	}
	g, err := ast.JSON(v)
	if err != nil {
		return nil, fmt.Errorf("decision body: %w", err)
	}
	b, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("decision body: %w", err)
	}
	return b, nil
}

func hasHeader(hs []Header, name string) bool {
	for _, h := range hs {
		if h.Name == name {
			return true
		}
	}
	return false
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validHeaderValue rejects control characters other than tab, so that a
// decision cannot split a header.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// defaultBody is the body of a deny without one: "403 Forbidden\n".
func defaultBody(status int) []byte {
	b := strconv.AppendInt(make([]byte, 0, 32), int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	return append(b, '\n')
}
