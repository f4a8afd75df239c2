// Package exchange defines the protocol-neutral request/response pair that
// every stage of a wasmgate filter chain sees, whatever protocol the client
// spoke.
package exchange

// Header is an ordered list of header fields. Names are stored in lower case,
// HTTP/2 style; lookups are case-insensitive. Repeated names are kept as
// separate fields in arrival order.
//
// The zero value is an empty header ready to use. A Header reuses its storage
// across Reset calls, so a pooled Exchange allocates nothing in steady state.
// Byte slices returned by Header methods are valid until the header is next
// modified or reset.
type Header struct {
	fields []field
	n      int
	dirty  bool
}

type field struct {
	name  []byte
	value []byte
}

// Reset empties the header and clears its modified flag, keeping storage.
func (h *Header) Reset() {
	h.n = 0
	h.dirty = false
}

// Len returns the number of fields.
func (h *Header) Len() int { return h.n }

// Modified reports whether the header changed since the last Reset or
// ClearModified. Front ends use it to skip copying unchanged headers back.
func (h *Header) Modified() bool { return h.dirty }

// ClearModified clears the modified flag, typically after the front end has
// filled the header from the wire.
func (h *Header) ClearModified() { h.dirty = false }

// Peek returns the first value of name, or nil when absent.
func (h *Header) Peek(name string) []byte {
	for i := 0; i < h.n; i++ {
		if equalFold(h.fields[i].name, name) {
			return h.fields[i].value
		}
	}
	return nil
}

// Lookup returns the first value of name and whether it is present, without
// copying: the slice is valid until the header is next modified or reset.
func (h *Header) Lookup(name string) ([]byte, bool) {
	for i := 0; i < h.n; i++ {
		if equalFold(h.fields[i].name, name) {
			return h.fields[i].value, true
		}
	}
	return nil, false
}

// Get returns the first value of name and whether it is present.
func (h *Header) Get(name string) (string, bool) {
	for i := 0; i < h.n; i++ {
		if equalFold(h.fields[i].name, name) {
			return string(h.fields[i].value), true
		}
	}
	return "", false
}

// Has reports whether name is present.
func (h *Header) Has(name string) bool {
	for i := 0; i < h.n; i++ {
		if equalFold(h.fields[i].name, name) {
			return true
		}
	}
	return false
}

// Values calls fn for every value of name, in order, until fn returns false.
func (h *Header) Values(name string, fn func(value []byte) bool) {
	for i := 0; i < h.n; i++ {
		if equalFold(h.fields[i].name, name) && !fn(h.fields[i].value) {
			return
		}
	}
}

// Range calls fn for every field in order until fn returns false. Names are
// lower case.
func (h *Header) Range(fn func(name, value []byte) bool) {
	for i := 0; i < h.n; i++ {
		if !fn(h.fields[i].name, h.fields[i].value) {
			return
		}
	}
}

// Add appends a field.
func (h *Header) Add(name, value string) {
	f := h.grow()
	f.name = appendLower(f.name[:0], name)
	f.value = append(f.value[:0], value...)
	h.dirty = true
}

// AddBytes appends a field from byte slices, which are copied.
func (h *Header) AddBytes(name, value []byte) {
	f := h.grow()
	f.name = appendLowerBytes(f.name[:0], name)
	f.value = append(f.value[:0], value...)
	h.dirty = true
}

// Set replaces every field named name with one field holding value.
func (h *Header) Set(name, value string) {
	for i := 0; i < h.n; i++ {
		if equalFold(h.fields[i].name, name) {
			h.fields[i].value = append(h.fields[i].value[:0], value...)
			h.deleteFrom(i+1, name)
			h.dirty = true
			return
		}
	}
	h.Add(name, value)
}

// SetBytes is Set with byte slices, which are copied.
func (h *Header) SetBytes(name, value []byte) {
	for i := 0; i < h.n; i++ {
		if equalFoldBytes(h.fields[i].name, name) {
			h.fields[i].value = append(h.fields[i].value[:0], value...)
			h.deleteFrom(i+1, string(name))
			h.dirty = true
			return
		}
	}
	h.AddBytes(name, value)
}

// Del removes every field named name.
func (h *Header) Del(name string) {
	if h.deleteFrom(0, name) {
		h.dirty = true
	}
}

// deleteFrom removes fields named name at index >= start, keeping order and
// recycling the removed fields' storage.
func (h *Header) deleteFrom(start int, name string) bool {
	w := start
	removed := false
	for r := start; r < h.n; r++ {
		if equalFold(h.fields[r].name, name) {
			removed = true
			continue
		}
		if w != r {
			h.fields[w], h.fields[r] = h.fields[r], h.fields[w]
		}
		w++
	}
	h.n = w
	return removed
}

func (h *Header) grow() *field {
	if h.n < len(h.fields) {
		h.n++
		return &h.fields[h.n-1]
	}
	h.fields = append(h.fields, field{})
	h.n++
	return &h.fields[h.n-1]
}

// CopyTo replaces dst's fields with h's.
func (h *Header) CopyTo(dst *Header) {
	dst.Reset()
	for i := 0; i < h.n; i++ {
		dst.AddBytes(h.fields[i].name, h.fields[i].value)
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func equalFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = append(dst, lower(s[i]))
	}
	return dst
}

func appendLowerBytes(dst, s []byte) []byte {
	for _, c := range s {
		dst = append(dst, lower(c))
	}
	return dst
}
