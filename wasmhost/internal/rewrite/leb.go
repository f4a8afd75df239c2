package rewrite

import "errors"

// LEB128 decoding, as strict as the binary format asks: an encoding may
// not be longer than ceil(N/7) bytes, and the unused bits of its last byte
// must be zero (unsigned) or a sign extension (signed). Being strict keeps
// our reading of a module identical to wazero's for every module wazero
// accepts.

var (
	errEOF = errors.New("unexpected end")
	errLEB = errors.New("malformed LEB128 integer")
)

// reader reads a byte slice front to back.
type reader struct {
	b   []byte
	pos int
}

func (r *reader) eof() bool { return r.pos >= len(r.b) }

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, errEOF
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) skip(n int) error {
	if n < 0 || len(r.b)-r.pos < n {
		return errEOF
	}
	r.pos += n
	return nil
}

// bytes returns the next n bytes (a view).
func (r *reader) bytes(n int) ([]byte, error) {
	start := r.pos
	if err := r.skip(n); err != nil {
		return nil, err
	}
	return r.b[start:r.pos], nil
}

// u32 reads an unsigned LEB128 of at most 32 bits.
func (r *reader) u32() (uint32, error) {
	var v uint32
	for i := 0; ; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i == 4 {
			if c&0xf0 != 0 { // continuation bit or bits beyond 32
				return 0, errLEB
			}
			return v | uint32(c)<<28, nil
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

// signed reads a signed LEB128 of at most bits bits (32, 33 or 64) and
// returns it sign-extended.
func (r *reader) signed(bits int) (int64, error) {
	var v int64
	maxLen := (bits + 6) / 7
	for i := 0; i < maxLen; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		shift := 7 * i
		if i == maxLen-1 {
			if c&0x80 != 0 {
				return 0, errLEB
			}
			// Bits of c at and above position (bits-1-shift) must all
			// equal the sign bit.
			used := bits - shift    // value bits in this byte, sign included
			rest := int8(c<<1) >> 1 // c's 7 bits sign-extended
			if rest>>(used-1) != 0 && rest>>(used-1) != -1 {
				return 0, errLEB
			}
			return v | int64(rest)<<shift, nil
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if c&0x40 != 0 && shift+7 < 64 {
				v |= -1 << (shift + 7)
			}
			return v, nil
		}
	}
	return 0, errLEB // not reached
}

// appendU32 appends v as an unsigned LEB128 (shortest form).
func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// appendS32 appends v as a signed LEB128 (shortest form).
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendName appends a length-prefixed string.
func appendName(b []byte, s string) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}
