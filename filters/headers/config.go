package headers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Config is the plugin configuration of builtin:headers, a JSON document
// documented in filters/README.md. Unknown fields are rejected.
type Config struct {
	// Request is applied to the request before it goes upstream.
	Request *Ops `json:"request,omitempty"`
	// Response is applied to the response before it goes to the client.
	Response *Ops `json:"response,omitempty"`
}

// Ops changes one header map: Remove first, then Set (replacing every
// value), then Add (appending). Names are case-insensitive; values may use
// the variables of [variables].
type Ops struct {
	Set    map[string]string `json:"set,omitempty"`
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// variable is a ${name} usable in values, with the host property it is
// read from.
type variable struct {
	name string
	path []string
	ip   bool // strip the port of an address
}

// variables are the names usable as ${name} in values.
func variables() []variable {
	return []variable{
		{name: "client_ip", path: []string{"source", "address"}, ip: true},
		{name: "route", path: []string{"wasmgate", "route"}},
		{name: "upstream", path: []string{"wasmgate", "upstream"}},
		{name: "consumer", path: []string{"wasmgate", "consumer"}},
		{name: "listener", path: []string{"wasmgate", "listener"}},
		{name: "request_id", path: []string{"request", "id"}},
		{name: "host", path: []string{"request", "host"}},
		{name: "method", path: []string{"request", "method"}},
		{name: "path", path: []string{"request", "path"}},
		{name: "scheme", path: []string{"request", "scheme"}},
	}
}

// segment is a literal (v < 0) or a variable index of a template.
type segment struct {
	lit string
	v   int
}

// template is a compiled header value.
type template struct {
	literal string    // the value when it has no variables
	segs    []segment // nil when literal
}

type headerOp struct {
	name  string
	value template
}

// ops is a compiled Ops.
type ops struct {
	remove   []string
	set, add []headerOp
}

type compiled struct {
	request, response *ops
	vars              []variable
}

func parseConfig(data []byte) (*compiled, error) {
	var cfg Config
	if len(bytes.TrimSpace(data)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("headers: configuration: %w", err)
		}
	}
	c := &compiled{vars: variables()}
	var err error
	if c.request, err = c.compileOps("request", cfg.Request); err != nil {
		return nil, err
	}
	if c.response, err = c.compileOps("response", cfg.Response); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *compiled) compileOps(what string, o *Ops) (*ops, error) {
	if o == nil || len(o.Set)+len(o.Add)+len(o.Remove) == 0 {
		return nil, nil
	}
	out := &ops{}
	for _, n := range o.Remove {
		name, err := headerName(n)
		if err != nil {
			return nil, fmt.Errorf("headers: %s.remove: %w", what, err)
		}
		out.remove = append(out.remove, name)
	}
	var err error
	if out.set, err = c.compileMap(what+".set", o.Set); err != nil {
		return nil, err
	}
	if out.add, err = c.compileMap(what+".add", o.Add); err != nil {
		return nil, err
	}
	return out, nil
}

// compileMap compiles a name → value map in name order.
func (c *compiled) compileMap(what string, m map[string]string) ([]headerOp, error) {
	var out []headerOp
	for n, v := range m {
		name, err := headerName(n)
		if err != nil {
			return nil, fmt.Errorf("headers: %s: %w", what, err)
		}
		t, err := c.compileTemplate(v)
		if err != nil {
			return nil, fmt.Errorf("headers: %s: %q: %w", what, n, err)
		}
		out = append(out, headerOp{name: name, value: t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// headerName lower-cases a header name and checks it is a token and not a
// pseudo-header.
func headerName(n string) (string, error) {
	if n == "" {
		return "", fmt.Errorf("empty header name")
	}
	for _, c := range []byte(n) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return "", fmt.Errorf("%q is not a header name (pseudo-headers cannot be changed)", n)
		}
	}
	return strings.ToLower(n), nil
}

// compileTemplate splits a value into literals and ${name} variables;
// $${ is a literal ${.
func (c *compiled) compileTemplate(v string) (template, error) {
	var segs []segment
	var lit strings.Builder
	hasVar := false
	for i := 0; i < len(v); {
		switch {
		case strings.HasPrefix(v[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(v[i:], "${"):
			end := strings.IndexByte(v[i:], '}')
			if end < 0 {
				return template{}, fmt.Errorf("unterminated ${ in %q", v)
			}
			name := v[i+2 : i+end]
			idx := -1
			for j, vr := range c.vars {
				if vr.name == name {
					idx = j
				}
			}
			if idx < 0 {
				return template{}, fmt.Errorf("unknown variable ${%s}; known: %s", name, c.varNames())
			}
			if lit.Len() > 0 {
				segs = append(segs, segment{lit: lit.String(), v: -1})
				lit.Reset()
			}
			segs = append(segs, segment{v: idx})
			hasVar = true
			i += end + 1
		default:
			lit.WriteByte(v[i])
			i++
		}
	}
	if !hasVar {
		return template{literal: lit.String()}, nil
	}
	if lit.Len() > 0 {
		segs = append(segs, segment{lit: lit.String(), v: -1})
	}
	return template{segs: segs}, nil
}

func (c *compiled) varNames() string {
	names := make([]string, len(c.vars))
	for i, v := range c.vars {
		names[i] = "${" + v.name + "}"
	}
	return strings.Join(names, ", ")
}
