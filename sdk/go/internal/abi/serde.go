package abi

import (
	"encoding/binary"
	"errors"
	"unsafe"
)

// ErrBadMap reports a malformed serialized header map.
var ErrBadMap = errors.New("proxywasm: malformed header map from host")

// Header maps travel as: u32 count; count × (u32 key length, u32 value
// length); then each key and value followed by a NUL byte. All integers are
// little endian.

// PairsSize is the encoded size of pairs.
func PairsSize(pairs [][2]string) int {
	n := 4
	for _, p := range pairs {
		n += 8 + len(p[0]) + len(p[1]) + 2
	}
	return n
}

// AppendPairs appends the encoding of pairs to dst.
func AppendPairs(dst []byte, pairs [][2]string) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pairs)))
	for _, p := range pairs {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p[0])))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p[1])))
	}
	for _, p := range pairs {
		dst = append(dst, p[0]...)
		dst = append(dst, 0)
		dst = append(dst, p[1]...)
		dst = append(dst, 0)
	}
	return dst
}

// DecodePairs decodes an encoded header map. The strings alias b, which
// must therefore never be modified afterwards. An empty b is an empty map.
func DecodePairs(b []byte) ([][2]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, ErrBadMap
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n == 0 {
		return nil, nil
	}
	// Each pair needs at least 8 bytes of sizes and 2 NULs.
	if n > (len(b)-4)/10 {
		return nil, ErrBadMap
	}
	sizes := b[4 : 4+8*n]
	data := b[4+8*n:]
	out := make([][2]string, n)
	for i := range out {
		kl := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		var k, v string
		var ok bool
		if k, data, ok = cut(data, kl); !ok {
			return nil, ErrBadMap
		}
		if v, data, ok = cut(data, vl); !ok {
			return nil, ErrBadMap
		}
		out[i] = [2]string{k, v}
	}
	return out, nil
}

// cut takes n bytes and their NUL terminator off the front of b.
func cut(b []byte, n int) (string, []byte, bool) {
	if n < 0 || n >= len(b) || b[n] != 0 {
		return "", b, false
	}
	return BytesToString(b[:n]), b[n+1:], true
}

// AppendPath appends the encoding of a property path (segments joined by
// NUL bytes) to dst.
func AppendPath(dst []byte, path []string) []byte {
	for i, p := range path {
		if i > 0 {
			dst = append(dst, 0)
		}
		dst = append(dst, p...)
	}
	return dst
}

// BytesToString returns a string that aliases b without copying. b must never
// change afterwards.
func BytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
