// Package pairs implements the Proxy-Wasm serialized header-pairs format:
//
//	u32 count
//	count × (u32 name_len, u32 value_len)
//	count × (name bytes, 0x00, value bytes, 0x00)
//
// All integers are little-endian. The same format is used for header maps,
// gRPC metadata and map-valued properties.
package pairs

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is returned (wrapped) by Parse for input that does not follow
// the format.
var ErrMalformed = errors.New("malformed header pairs")

// MaxPairs bounds the number of pairs Parse accepts, so that a guest cannot
// make the host iterate over an absurd count.
const MaxPairs = 1 << 16

// Parse calls fn for every pair in b, in order. name and value alias b and
// are only valid during the call. Parse stops at the first error returned by
// fn and returns it. An empty b is an empty map.
func Parse(b []byte, fn func(name, value []byte) error) error {
	if len(b) == 0 {
		return nil
	}
	if len(b) < 4 {
		return fmt.Errorf("%w: %d bytes, need at least 4", ErrMalformed, len(b))
	}
	n := uint64(binary.LittleEndian.Uint32(b))
	if n > MaxPairs {
		return fmt.Errorf("%w: %d pairs exceeds limit %d", ErrMalformed, n, MaxPairs)
	}
	data := 4 + 8*n
	if data > uint64(len(b)) {
		return fmt.Errorf("%w: %d pairs need %d bytes of sizes, have %d", ErrMalformed, n, data, len(b))
	}
	pos := data
	for i := uint64(0); i < n; i++ {
		kl := uint64(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := uint64(binary.LittleEndian.Uint32(b[8+8*i:]))
		// name, NUL, value, NUL; the terminators are skipped, not checked,
		// like other hosts do.
		if pos+kl+vl+2 > uint64(len(b)) {
			return fmt.Errorf("%w: pair %d overruns the buffer", ErrMalformed, i)
		}
		name := b[pos : pos+kl]
		pos += kl + 1
		value := b[pos : pos+vl]
		pos += vl + 1
		if err := fn(name, value); err != nil {
			return err
		}
	}
	return nil
}

// Size returns the serialized size of count pairs whose names and values
// add up to textLen bytes.
func Size(count, textLen int) int { return 4 + count*10 + textLen }

// Encoder appends a serialized map to a byte slice without allocating when
// the slice has enough capacity. Call Reset, Add for every pair, then
// Finish; Finish returns the buffer. The encoder keeps the pairs as offsets
// into its own scratch buffer, so the added strings need not outlive Add.
type Encoder struct {
	text  []byte
	sizes []uint32
}

// Reset forgets every added pair but keeps the buffers.
func (e *Encoder) Reset() { e.text = e.text[:0]; e.sizes = e.sizes[:0] }

// Add appends one pair.
func (e *Encoder) Add(name, value string) {
	e.sizes = append(e.sizes, uint32(len(name)), uint32(len(value)))
	e.text = append(e.text, name...)
	e.text = append(e.text, 0)
	e.text = append(e.text, value...)
	e.text = append(e.text, 0)
}

// Len returns the number of bytes Finish will append.
func (e *Encoder) Len() int { return 4 + 4*len(e.sizes) + len(e.text) }

// Finish appends the serialized map to dst and returns it.
func (e *Encoder) Finish(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(e.sizes)/2))
	for _, s := range e.sizes {
		dst = binary.LittleEndian.AppendUint32(dst, s)
	}
	return append(dst, e.text...)
}
