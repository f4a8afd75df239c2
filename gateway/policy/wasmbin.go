package policy

import (
	"errors"
	"fmt"
)

// This file edits the binary of an OPA-compiled policy module so that
// wazero can run it. The module imports its linear memory as env.memory,
// and wazero's host modules export only functions. Rather than assembling
// a second module to own the memory, definePolicyMemory turns the import
// into a memory the module defines itself: memory index 0 stays index 0
// (the import was the only memory), so no instruction changes, and the
// module's own export of "memory" (ABI 1.1) now names the defined one.

// Wasm section ids.
const (
	secCustom = 0
	secImport = 2
	secMemory = 5
	secCount  = 12
)

// sectionOrder is where a section may appear relative to the others (the
// data count section sits between element and code).
func sectionOrder(id byte) int {
	switch id {
	case secCount:
		return 95 // after element (9), before code (10)
	case secCustom:
		return -1
	}
	return int(id) * 10
}

var errWasm = errors.New("malformed wasm module")

// wasmReader reads a byte slice front to back.
type wasmReader struct {
	b   []byte
	pos int
}

func (r *wasmReader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, errWasm
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *wasmReader) u32() (uint32, error) {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errWasm
}

func (r *wasmReader) skip(n uint32) error {
	if uint64(len(r.b)-r.pos) < uint64(n) {
		return errWasm
	}
	r.pos += int(n)
	return nil
}

// limits skips memory or table limits and returns their bytes.
func (r *wasmReader) limits() ([]byte, error) {
	start := r.pos
	flag, err := r.byte()
	if err != nil {
		return nil, err
	}
	if _, err := r.u32(); err != nil {
		return nil, err
	}
	if flag&1 != 0 {
		if _, err := r.u32(); err != nil {
			return nil, err
		}
	}
	return r.b[start:r.pos], nil
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendSection(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = appendU32(b, uint32(len(body)))
	return append(b, body...)
}

// definePolicyMemory returns a copy of the module bin with its memory
// import (env.memory) replaced by a memory section of the import's minimum
// and of maxPages (at least that minimum) as its maximum.
func definePolicyMemory(bin []byte, maxPages uint32) ([]byte, error) {
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" || string(bin[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: bad header", errWasm)
	}
	out := make([]byte, 0, len(bin)+16)
	out = append(out, bin[:8]...)
	r := &wasmReader{b: bin, pos: 8}
	var memLimits []byte
	inserted := false
	insertMemory := func() {
		if memLimits == nil || inserted {
			return
		}
		inserted = true
		lr := &wasmReader{b: memLimits}
		_, _ = lr.byte()
		minPages, _ := lr.u32()
		lim := appendU32([]byte{1}, minPages)
		lim = appendU32(lim, max(maxPages, minPages))
		out = appendSection(out, secMemory, append([]byte{1}, lim...))
	}
	for r.pos < len(bin) {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		start := r.pos
		if err := r.skip(size); err != nil {
			return nil, err
		}
		body := bin[start:r.pos]
		if id != secCustom && sectionOrder(id) > sectionOrder(secMemory) {
			insertMemory()
		}
		switch id {
		case secMemory:
			return nil, fmt.Errorf("%w: the module defines a memory", errWasm)
		case secImport:
			nb, lim, err := dropMemoryImport(body)
			if err != nil {
				return nil, err
			}
			memLimits = lim
			out = appendSection(out, id, nb)
			continue
		}
		out = appendSection(out, id, body)
	}
	if memLimits == nil {
		return nil, fmt.Errorf("%w: no env.memory import", errWasm)
	}
	insertMemory()
	return out, nil
}

// dropMemoryImport returns the import section body without env.memory,
// and that import's limits.
func dropMemoryImport(body []byte) ([]byte, []byte, error) {
	r := &wasmReader{b: body}
	n, err := r.u32()
	if err != nil {
		return nil, nil, err
	}
	kept := make([]byte, 0, len(body))
	var limits []byte
	for range n {
		start := r.pos
		var names [2]string
		for i := range names {
			l, err := r.u32()
			if err != nil {
				return nil, nil, err
			}
			s := r.pos
			if err := r.skip(l); err != nil {
				return nil, nil, err
			}
			names[i] = string(body[s:r.pos])
		}
		kind, err := r.byte()
		if err != nil {
			return nil, nil, err
		}
		switch kind {
		case 0: // function: type index
			_, err = r.u32()
		case 1: // table: reference type, limits
			if _, err = r.byte(); err == nil {
				_, err = r.limits()
			}
		case 2: // memory
			var lim []byte
			lim, err = r.limits()
			if err == nil {
				if names != [2]string{"env", "memory"} || limits != nil {
					return nil, nil, fmt.Errorf("%w: unexpected memory import %s.%s", errWasm, names[0], names[1])
				}
				if lim[0]&^1 != 0 {
					return nil, nil, fmt.Errorf("%w: shared or 64-bit memory", errWasm)
				}
				limits = lim
				continue
			}
		case 3: // global: value type, mutability
			if _, err = r.byte(); err == nil {
				_, err = r.byte()
			}
		default:
			err = fmt.Errorf("%w: import kind %d", errWasm, kind)
		}
		if err != nil {
			return nil, nil, err
		}
		kept = append(kept, body[start:r.pos]...)
	}
	if r.pos != len(body) {
		return nil, nil, fmt.Errorf("%w: trailing bytes in the import section", errWasm)
	}
	if limits == nil {
		return body, nil, nil
	}
	return append(appendU32(nil, n-1), kept...), limits, nil
}
