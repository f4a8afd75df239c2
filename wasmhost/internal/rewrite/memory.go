package rewrite

import (
	"errors"
	"fmt"
)

// ErrMemoryImport wraps every DefineMemory error.
var ErrMemoryImport = errors.New("cannot define the imported memory")

// DefineMemory returns a copy of wasm in which the memory import
// module.name becomes a memory the module defines itself, with the
// import's minimum and maxPages (at least that minimum) as its maximum. It
// does not modify wasm.
//
// wazero's host modules export only functions, so a module that imports
// its memory (OPA's compiled policies import env.memory) cannot be
// instantiated as it is. The import must be the module's only memory, so
// the defined memory keeps index 0: no instruction changes, and the
// module's own export of that memory, if any, now names the defined one.
// Errors wrap ErrMemoryImport.
func DefineMemory(wasm []byte, module, name string, maxPages uint32) ([]byte, error) {
	out, err := defineMemory(wasm, module, name, maxPages)
	if err != nil {
		return nil, fmt.Errorf("%w %s.%s: %w", ErrMemoryImport, module, name, err)
	}
	return out, nil
}

func defineMemory(wasm []byte, module, name string, maxPages uint32) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(wasm)+16)
	out = append(out, header...)
	var minPages uint32
	found, inserted := false, false
	insertMemory := func() {
		if !found || inserted {
			return
		}
		inserted = true
		body := appendU32([]byte{1, 1}, minPages) // one memory; limits with a maximum
		body = appendU32(body, max(maxPages, minPages))
		out = appendSection(out, secMemory, body)
	}
	for _, s := range secs {
		if s.id != secCustom && sectionRank(s.id) > sectionRank(secMemory) {
			insertMemory()
		}
		body := s.body
		switch s.id {
		case secMemory:
			return nil, errors.New("the module defines a memory")
		case secImport:
			kept, pages, ok, err := dropMemoryImport(body, module, name)
			if err != nil {
				return nil, err
			}
			found, minPages = ok, pages
			body = kept
		}
		out = appendSection(out, s.id, body)
	}
	if !found {
		return nil, errors.New("no such import")
	}
	insertMemory()
	return out, nil
}

// dropMemoryImport returns the import section body without the memory
// import module.name, and that import's minimum; ok is false (and kept is
// body) when there is no such import.
func dropMemoryImport(body []byte, module, name string) (kept []byte, minPages uint32, ok bool, err error) {
	r := &reader{b: body}
	n, err := r.u32()
	if err != nil {
		return nil, 0, false, err
	}
	kept = make([]byte, 0, len(body))
	for range n {
		start := r.pos
		var names [2][]byte
		for i := range names {
			l, err := r.u32()
			if err != nil {
				return nil, 0, false, err
			}
			if names[i], err = r.bytes(int(l)); err != nil {
				return nil, 0, false, err
			}
		}
		kind, err := r.byte()
		if err != nil {
			return nil, 0, false, err
		}
		switch kind {
		case 0: // function: type index
			_, err = r.u32()
		case 1: // table: reference type, limits
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 2: // memory: limits
			lim := r.pos
			if err = r.limits(); err != nil {
				break
			}
			if string(names[0]) != module || string(names[1]) != name || ok {
				return nil, 0, false, fmt.Errorf("another memory import %s.%s", names[0], names[1])
			}
			if body[lim] != 0 && body[lim] != 1 {
				return nil, 0, false, errors.New("shared memory")
			}
			lr := &reader{b: body, pos: lim + 1}
			minPages, _ = lr.u32() // limits() read it already
			ok = true
			continue
		case 3: // global: value type, mutability
			if _, err = r.byte(); err == nil {
				_, err = r.byte()
			}
		default:
			err = fmt.Errorf("import kind %d", kind)
		}
		if err != nil {
			return nil, 0, false, err
		}
		kept = append(kept, body[start:r.pos]...)
	}
	if !r.eof() {
		return nil, 0, false, errors.New("trailing bytes in the import section")
	}
	if !ok {
		return body, 0, false, nil
	}
	return append(appendU32(nil, n-1), kept...), minPages, true, nil
}

// appendSection appends a section: its id, size and body.
func appendSection(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = appendU32(b, uint32(len(body)))
	return append(b, body...)
}
