package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/wasmgate/wasmgate/gateway/internal/jsontext"
)

// Values crossing the guest boundary: builtin arguments and results, and
// the result set of an evaluation.

// OPA value types in guest memory (wasm/src/value.h of OPA).
const (
	opaNull            = 1
	opaBoolean         = 2
	opaNumber          = 3
	opaString          = 4
	opaArray           = 5
	opaObject          = 6
	opaSet             = 7
	opaStringInterned  = 8
	opaBooleanInterned = 9
	opaNumberReprInt   = 1
)

// maxDirectDepth bounds the nesting readDirect follows.
const maxDirectDepth = 16

// probeLayout reports whether readDirect decodes a value opa_value_parse
// built as the value it was parsed from: only then are builtin arguments
// read from memory directly rather than dumped and parsed.
func (in *wasmInstance) probeLayout(ctx context.Context) bool {
	// Numbers are left out: parsed ones are decimals, which readDirect
	// leaves to the dump.
	const probe = `["ab", true, null, false, "", ["ü"], {"k": "v", "k2": ["x"], "k3": {}}, {"s1", "s2", set()}]`
	addr, err := in.alloc(ctx, []byte(probe))
	if err != nil {
		return false
	}
	in.cstack[0], in.cstack[1] = uint64(addr), uint64(len(probe))
	if err := in.valueParse.CallWithStack(ctx, in.cstack[:]); err != nil {
		return false
	}
	t, ok := in.readDirect(uint32(in.cstack[0]), 0)
	return ok && t.Value.Compare(ast.MustParseTerm(probe).Value) == 0
}

// readValue returns the guest value at addr.
func (in *wasmInstance) readValue(ctx context.Context, addr uint32) (*ast.Term, error) {
	if in.e.direct {
		if t, ok := in.readDirect(addr, 0); ok {
			return t, nil
		}
	}
	in.cstack[0] = uint64(addr)
	if err := in.valueDump.CallWithStack(ctx, in.cstack[:]); err != nil {
		return nil, err
	}
	text, err := in.cstring(uint32(in.cstack[0]))
	if err != nil {
		return nil, err
	}
	v, err := parseValueText(text)
	if err != nil {
		return nil, err
	}
	return ast.NewTerm(v), nil
}

// readDirect decodes a value from guest memory: null, booleans, integers,
// strings, arrays, objects and sets of them; ok is false for anything
// else (decimal numbers, such as those parsed from JSON), which readValue
// then dumps.
func (in *wasmInstance) readDirect(addr uint32, depth int) (*ast.Term, bool) {
	m := in.mem
	typ, ok := m.ReadByte(addr)
	if !ok {
		return nil, false
	}
	switch typ {
	case opaNull:
		return ast.InternedNullTerm, true
	case opaBoolean, opaBooleanInterned:
		b, ok := m.ReadByte(addr + 1)
		return ast.InternedTerm(b != 0), ok
	case opaNumber:
		repr, ok1 := m.ReadByte(addr + 1)
		i, ok2 := m.ReadUint64Le(addr + 8)
		if !ok1 || !ok2 || repr != opaNumberReprInt {
			return nil, false
		}
		return ast.IntNumberTerm(int(int64(i))), true
	case opaString, opaStringInterned:
		n, ok1 := m.ReadUint32Le(addr + 4)
		p, ok2 := m.ReadUint32Le(addr + 8)
		if !ok1 || !ok2 {
			return nil, false
		}
		b, ok := m.Read(p, n)
		if !ok {
			return nil, false
		}
		if p+n <= in.evalHeap {
			// The data's strings and the module's constants: the same
			// every evaluation.
			return in.dec.internTerm(b), true
		}
		return ast.StringTerm(string(b)), true
	case opaArray:
		if depth >= maxDirectDepth {
			return nil, false
		}
		elems, ok1 := m.ReadUint32Le(addr + 4)
		n, ok2 := m.ReadUint32Le(addr + 8)
		if !ok1 || !ok2 || n > m.Size()/8 {
			return nil, false
		}
		terms := make([]*ast.Term, n)
		for i := range n {
			v, ok := m.ReadUint32Le(elems + 8*i + 4)
			if !ok {
				return nil, false
			}
			if terms[i], ok = in.readDirect(v, depth+1); !ok {
				return nil, false
			}
		}
		return ast.ArrayTerm(terms...), true
	case opaObject, opaSet:
		if depth >= maxDirectDepth {
			return nil, false
		}
		// Hash tables: n buckets of linked elements, {k, v, next} for
		// objects, {v, next} for sets.
		buckets, ok1 := m.ReadUint32Le(addr + 4)
		nb, ok2 := m.ReadUint32Le(addr + 8)
		n, ok3 := m.ReadUint32Le(addr + 12)
		if !ok1 || !ok2 || !ok3 || nb > m.Size()/4 || n > m.Size()/8 {
			return nil, false
		}
		var obj ast.Object
		var set ast.Set
		if typ == opaObject {
			obj = ast.NewObjectWithCapacity(int(n))
		} else {
			set = ast.NewSetWithCapacity(int(n))
		}
		seen := uint32(0)
		for i := range nb {
			elem, ok := m.ReadUint32Le(buckets + 4*i)
			for ok && elem != 0 {
				if seen++; seen > n {
					return nil, false
				}
				if typ == opaObject {
					ka, ok1 := m.ReadUint32Le(elem)
					va, ok2 := m.ReadUint32Le(elem + 4)
					if !ok1 || !ok2 {
						return nil, false
					}
					k, ok1 := in.readDirect(ka, depth+1)
					v, ok2 := in.readDirect(va, depth+1)
					if !ok1 || !ok2 {
						return nil, false
					}
					obj.Insert(k, v)
					elem, ok = m.ReadUint32Le(elem + 8)
				} else {
					va, ok1 := m.ReadUint32Le(elem)
					if !ok1 {
						return nil, false
					}
					v, ok1 := in.readDirect(va, depth+1)
					if !ok1 {
						return nil, false
					}
					set.Add(v)
					elem, ok = m.ReadUint32Le(elem + 4)
				}
			}
			if !ok {
				return nil, false
			}
		}
		if seen != n {
			return nil, false
		}
		if typ == opaObject {
			return ast.NewTerm(obj), true
		}
		return ast.NewTerm(set), true
	}
	return nil, false
}

// writeValue builds v in guest memory and returns its address.
func (in *wasmInstance) writeValue(ctx context.Context, v ast.Value) (uint32, error) {
	text, err := appendValueText(in.input.out[:0], v)
	in.input.out = text
	if err != nil {
		return 0, err
	}
	addr, err := in.alloc(ctx, text)
	if err != nil {
		return 0, err
	}
	in.cstack[0], in.cstack[1] = uint64(addr), uint64(len(text))
	if err := in.valueParse.CallWithStack(ctx, in.cstack[:]); err != nil {
		return 0, err
	}
	if in.cstack[0] == 0 {
		return 0, errors.New("the policy module cannot parse the value")
	}
	return uint32(in.cstack[0]), nil
}

// appendValueText appends v in the text opa_value_parse reads: JSON, and
// Rego set literals.
func appendValueText(b []byte, v ast.Value) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case ast.Null:
		return append(b, "null"...), nil
	case ast.Boolean:
		return strconv.AppendBool(b, bool(v)), nil
	case ast.Number:
		return append(b, v...), nil
	case ast.String:
		return jsontext.AppendString(b, string(v)), nil
	case *ast.Array:
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValueText(b, v.Elem(i).Value); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case ast.Object:
		return appendObjectText(b, v)
	case ast.Set:
		if v.Len() == 0 {
			return append(b, "set()"...), nil
		}
		b = append(b, '{')
		for i, t := range v.Slice() {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValueText(b, t.Value); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	return b, fmt.Errorf("cannot pass a %s to the policy module", ast.ValueName(v))
}

func appendObjectText(b []byte, o ast.Object) ([]byte, error) {
	b = append(b, '{')
	for i, k := range o.Keys() {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValueText(b, k.Value); err != nil {
			return b, err
		}
		b = append(b, ':')
		if b, err = appendValueText(b, o.Get(k).Value); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// decoder reads result sets into decisions. It keeps the strings and
// header lists it made, so that a decision repeating earlier ones costs
// no allocation for them.
type decoder struct {
	strs    map[string]string
	terms   map[string]*ast.Term
	headers map[string][]Header
	tmp     []tmpHeader
	lower   []byte
}

type tmpHeader struct {
	orig        []byte // the name as the policy wrote it, for ordering
	name, value string
}

const (
	maxInterned       = 1024
	maxInternedLen    = 256
	maxCachedHeaders  = 256
	maxCachedHdrsText = 1024
)

func (d *decoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= maxInternedLen {
		if d.strs == nil || len(d.strs) >= maxInterned {
			d.strs = make(map[string]string)
		}
		d.strs[s] = s
	}
	return s
}

// internTerm is intern for string terms, which are immutable and can be
// shared: it spares allocating the term and the string's interface.
func (d *decoder) internTerm(b []byte) *ast.Term {
	if t, ok := d.terms[string(b)]; ok {
		return t
	}
	t := ast.StringTerm(d.intern(b))
	if len(b) <= maxInternedLen {
		if d.terms == nil || len(d.terms) >= maxInterned {
			d.terms = make(map[string]*ast.Term)
		}
		d.terms[string(t.Value.(ast.String))] = t
	}
	return t
}

// result decodes a result set in OPA's value format ({{"result": V}} or
// set()) into a decision. Failures are *EvalError without Policy.
func (d *decoder) result(text []byte) (Decision, error) {
	if dec, ok := d.fast(text); ok {
		return dec, nil
	}
	return d.general(text)
}

// general is result without the fast path.
func (d *decoder) general(text []byte) (Decision, error) {
	v, err := parseValueText(text)
	if err != nil {
		return Decision{}, fmt.Errorf("reading the result set: %w", err)
	}
	set, ok := v.(ast.Set)
	if !ok {
		return Decision{}, fmt.Errorf("the result set is a %s", ast.ValueName(v))
	}
	switch set.Len() {
	case 0:
		return Decision{}, &EvalError{Reason: "decision is undefined"}
	case 1:
	default:
		return Decision{}, &EvalError{Reason: fmt.Sprintf("query has %d results; a decision has one", set.Len())}
	}
	obj, ok := set.Slice()[0].Value.(ast.Object)
	if !ok {
		return Decision{}, errors.New("the result set holds no object")
	}
	res := obj.Get(ast.InternedTerm("result"))
	if res == nil {
		return Decision{}, &EvalError{Reason: "decision is undefined"}
	}
	dec, err := decide(res.Value)
	if err != nil {
		return Decision{}, &EvalError{Reason: "invalid decision", Err: err}
	}
	return dec, nil
}

// scanner reads the value format, just enough for fast.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\n', '\t', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) word(w string) bool {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], stringBytes(w)) {
		s.i += len(w)
		return true
	}
	return false
}

// str reads a string without escapes; ok is false for anything else.
func (s *scanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// fast decodes the common result sets: one decision, a boolean or an
// object whose values are plain (strings without escapes, a whole status,
// headers of strings). ok is false for anything else, and for decisions
// decide would reject: result then takes the general path, which gives
// the same decision or error as topdown.
func (d *decoder) fast(text []byte) (Decision, bool) {
	s := scanner{b: text}
	if !s.eat('{') || !s.eat('{') {
		return Decision{}, false
	}
	if k, ok := s.str(); !ok || string(k) != "result" || !s.eat(':') {
		return Decision{}, false
	}
	var dec Decision
	switch {
	case s.word("true"):
		dec.Allow = true
	case s.word("false"):
	case s.eat('{'):
		if !d.fastObject(&s, &dec) {
			return Decision{}, false
		}
	default:
		return Decision{}, false
	}
	if !s.eat('}') || !s.eat('}') {
		return Decision{}, false
	}
	if s.ws(); s.i != len(s.b) {
		return Decision{}, false
	}
	if dec.Allow {
		dec.Status, dec.Body = 0, nil
	}
	return dec, true
}

// fastObject reads a decision object after its '{'.
func (d *decoder) fastObject(s *scanner, dec *Decision) bool {
	if s.eat('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.eat(':') {
			return false
		}
		switch string(key) {
		case "allow":
			switch {
			case s.word("true"):
				dec.Allow = true
			case s.word("false"):
				dec.Allow = false
			default:
				return false
			}
		case "status":
			s.ws()
			start := s.i
			for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
				s.i++
			}
			n, err := strconv.Atoi(string(s.b[start:s.i]))
			if err != nil || n < 200 || n > 599 {
				return false
			}
			dec.Status = n
		case "headers":
			if !d.fastHeaders(s, dec) {
				return false
			}
		case "body":
			b, ok := s.str()
			if !ok {
				return false
			}
			dec.Body = bytes.Clone(b)
			if dec.Body == nil {
				dec.Body = []byte{}
			}
		case "reason":
			b, ok := s.str()
			if !ok {
				return false
			}
			dec.Reason = d.intern(b)
		default:
			return false
		}
		if s.eat('}') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// fastHeaders reads a headers object of strings or arrays of strings.
func (d *decoder) fastHeaders(s *scanner, dec *Decision) bool {
	if !s.eat('{') {
		return false
	}
	start := s.i - 1
	d.tmp = d.tmp[:0]
	add := func(orig, value []byte) bool {
		if !validHeaderName(unsafeString(orig)) || !validHeaderValue(unsafeString(value)) {
			return false
		}
		d.lower = append(d.lower[:0], orig...)
		for i, c := range d.lower {
			if c >= 'A' && c <= 'Z' {
				d.lower[i] = c + 'a' - 'A'
			}
		}
		d.tmp = append(d.tmp, tmpHeader{orig: orig, name: d.intern(d.lower), value: d.intern(value)})
		return true
	}
	if !s.eat('}') {
		for {
			name, ok := s.str()
			if !ok || !s.eat(':') {
				return false
			}
			if s.eat('[') {
				if !s.eat(']') {
					for {
						v, ok := s.str()
						if !ok || !add(name, v) {
							return false
						}
						if s.eat(']') {
							break
						}
						if !s.eat(',') {
							return false
						}
					}
				}
			} else {
				v, ok := s.str()
				if !ok || !add(name, v) {
					return false
				}
			}
			if s.eat('}') {
				break
			}
			if !s.eat(',') {
				return false
			}
		}
	}
	if len(d.tmp) == 0 {
		dec.Headers = nil
		return true
	}
	raw := s.b[start:s.i]
	if hs, ok := d.headers[string(raw)]; ok {
		dec.Headers = hs
		return true
	}
	// decide lists headers in the order of their names as written.
	slices.SortStableFunc(d.tmp, func(a, b tmpHeader) int { return bytes.Compare(a.orig, b.orig) })
	hs := make([]Header, len(d.tmp))
	for i, h := range d.tmp {
		hs[i] = Header{Name: h.name, Value: h.value}
	}
	if len(raw) <= maxCachedHdrsText {
		if d.headers == nil || len(d.headers) >= maxCachedHeaders {
			d.headers = make(map[string][]Header)
		}
		d.headers[string(raw)] = hs
	}
	dec.Headers = hs
	return true
}

// unsafeString views b as a string, for reading only while b is unchanged.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// parseValueText parses OPA's value format (what opa_value_dump and
// opa_eval with format 1 write): JSON, with set literals ({a, b}, set())
// and keys of any type.
func parseValueText(text []byte) (ast.Value, error) {
	s := scanner{b: text}
	v, err := s.value(0)
	if err != nil {
		return nil, err
	}
	if s.ws(); s.i != len(s.b) {
		return nil, fmt.Errorf("value text: trailing data at offset %d", s.i)
	}
	return v, nil
}

const maxValueDepth = 1000

func (s *scanner) fail(what string) error {
	return fmt.Errorf("value text: %s at offset %d", what, s.i)
}

func (s *scanner) value(depth int) (ast.Value, error) {
	if depth > maxValueDepth {
		return nil, s.fail("nesting too deep")
	}
	s.ws()
	if s.i >= len(s.b) {
		return nil, s.fail("unexpected end")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.stringValue()
	case c == '[':
		s.i++
		var elems []*ast.Term
		if s.eat(']') {
			return ast.NewArray(), nil
		}
		for {
			v, err := s.value(depth + 1)
			if err != nil {
				return nil, err
			}
			elems = append(elems, ast.NewTerm(v))
			if s.eat(']') {
				return ast.NewArray(elems...), nil
			}
			if !s.eat(',') {
				return nil, s.fail("expected , or ]")
			}
		}
	case c == '{':
		s.i++
		if s.eat('}') {
			return ast.NewObject(), nil
		}
		first, err := s.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if s.eat(':') {
			obj := ast.NewObject()
			k := first
			for {
				v, err := s.value(depth + 1)
				if err != nil {
					return nil, err
				}
				obj.Insert(ast.NewTerm(k), ast.NewTerm(v))
				if s.eat('}') {
					return obj, nil
				}
				if !s.eat(',') {
					return nil, s.fail("expected , or }")
				}
				if k, err = s.value(depth + 1); err != nil {
					return nil, err
				}
				if !s.eat(':') {
					return nil, s.fail("expected :")
				}
			}
		}
		set := ast.NewSet(ast.NewTerm(first))
		for {
			if s.eat('}') {
				return set, nil
			}
			if !s.eat(',') {
				return nil, s.fail("expected , or }")
			}
			v, err := s.value(depth + 1)
			if err != nil {
				return nil, err
			}
			set.Add(ast.NewTerm(v))
		}
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		for s.i < len(s.b) && strings.IndexByte("+-.eE0123456789", s.b[s.i]) >= 0 {
			s.i++
		}
		num := s.b[start:s.i]
		if !json.Valid(num) {
			return nil, s.fail("malformed number")
		}
		return ast.Number(num), nil
	}
	switch {
	case s.word("null"):
		return ast.Null{}, nil
	case s.word("true"):
		return ast.Boolean(true), nil
	case s.word("false"):
		return ast.Boolean(false), nil
	case s.word("set()"):
		return ast.NewSet(), nil
	}
	return nil, s.fail("unexpected character")
}

// stringValue reads a JSON string.
func (s *scanner) stringValue() (ast.Value, error) {
	start := s.i
	if b, ok := s.str(); ok {
		return ast.String(b), nil
	}
	// Escapes: find the closing quote, then let encoding/json decode.
	s.i = start + 1
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			var str string
			if err := json.Unmarshal(s.b[start:s.i], &str); err != nil {
				return nil, s.fail("malformed string")
			}
			return ast.String(str), nil
		}
		s.i++
	}
	return nil, s.fail("unterminated string")
}
