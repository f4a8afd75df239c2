// Package rewrite instruments a WebAssembly module so that the host can
// stop it at any time without help from the runtime.
//
// Instrument adds a mutable i32 global, exported under a reserved name
// (KillExport), and inserts a check of it at the entry of every function
// and at the head of every loop:
//
//	global.get $kill
//	if
//	  unreachable
//	end
//
// Any unbounded execution passes through a loop head or a function entry
// over and over, so once the host sets the global to non-zero (with
// wazero's api.MutableGlobal, from any goroutine) the guest traps within
// a bounded number of instructions. This replaces wazero's
// WithCloseOnContextDone, whose compiled checks come with a goroutine and a
// channel per call from the host into the guest.
//
// Only the global, export and code sections change. The new global goes at
// the end of the global index space and no other index moves, so every
// other section (custom ones included: names keep pointing at the right
// functions, locals and globals) is copied as is. DWARF line information,
// which refers to code offsets, becomes inexact.
//
// A module the rewriter does not understand is rejected with an error,
// never rewritten partially; wazero validates the result as usual.
package rewrite

import (
	"errors"
	"fmt"
)

// KillExport is the name under which Instrument exports the kill global.
const KillExport = "__wasmgate_kill"

// ErrNotInstrumentable wraps every Instrument error.
var ErrNotInstrumentable = errors.New("module cannot be instrumented")

// Result is an instrumented module.
type Result struct {
	// Wasm is the instrumented module.
	Wasm []byte
	// Global is the index of the kill global.
	Global uint32
	// Functions and Loops count the checks inserted.
	Functions, Loops int
}

// Section ids (binary format, 5.5.2).
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// sectionRank is the position of a non-custom section in the module (data
// count comes between element and code); 0 for an unknown id.
func sectionRank(id byte) int {
	switch id {
	case secType, secImport, secFunction, secTable, secMemory, secGlobal, secExport, secStart, secElement:
		return int(id)
	case secDataCount:
		return 10
	case secCode:
		return 11
	case secData:
		return 12
	}
	return 0
}

var header = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

type section struct {
	id   byte
	body []byte
}

// Instrument returns wasm with the kill checks inserted. It does not
// modify wasm. Errors wrap ErrNotInstrumentable.
func Instrument(wasm []byte) (*Result, error) {
	res, err := instrument(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotInstrumentable, err)
	}
	return res, nil
}

func instrument(wasm []byte) (*Result, error) {
	if len(wasm) < len(header) || string(wasm[:len(header)]) != string(header) {
		return nil, errors.New("not a wasm 1.0 binary module")
	}
	r := &reader{b: wasm, pos: len(header)}
	var secs []section
	lastRank := 0
	for !r.eof() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("section %d size: %w", id, err)
		}
		body, err := r.bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		if id != secCustom {
			rank := sectionRank(id)
			if rank == 0 {
				return nil, fmt.Errorf("unsupported section id %d", id)
			}
			if rank <= lastRank {
				return nil, fmt.Errorf("section %d out of order or repeated", id)
			}
			lastRank = rank
		}
		secs = append(secs, section{id: id, body: body})
	}

	// Count globals: imported first, then defined.
	var imported, defined uint32
	var exports []byte // export section body, if any
	for _, s := range secs {
		switch s.id {
		case secImport:
			n, err := importedGlobals(s.body)
			if err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
			imported = n
		case secGlobal:
			n, err := (&reader{b: s.body}).u32()
			if err != nil {
				return nil, fmt.Errorf("global section: %w", err)
			}
			defined = n
		case secExport:
			exports = s.body
		}
	}
	total := uint64(imported) + uint64(defined)
	if total >= 1<<32-1 {
		return nil, errors.New("too many globals")
	}
	res := &Result{Global: uint32(total)}
	newExports, err := addExport(exports, res.Global)
	if err != nil {
		return nil, fmt.Errorf("export section: %w", err)
	}

	out := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	out = append(out, header...)
	wroteGlobal, wroteExport := false, false
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	// flush emits the global and export sections due before a section of
	// the given rank, if the module had none.
	flush := func(rank int) {
		if !wroteGlobal && rank > secGlobal {
			emit(secGlobal, appendKillGlobal(appendU32(nil, 1)))
			wroteGlobal = true
		}
		if !wroteExport && rank > secExport {
			emit(secExport, newExports)
			wroteExport = true
		}
	}
	for _, s := range secs {
		if s.id == secCustom {
			emit(s.id, s.body)
			continue
		}
		flush(sectionRank(s.id))
		switch s.id {
		case secGlobal:
			rr := &reader{b: s.body}
			_, _ = rr.u32() // defined, read above
			body := appendU32(make([]byte, 0, len(s.body)+16), defined+1)
			body = append(body, s.body[rr.pos:]...)
			emit(secGlobal, appendKillGlobal(body))
			wroteGlobal = true
		case secExport:
			emit(secExport, newExports)
			wroteExport = true
		case secCode:
			body, err := res.rewriteCode(s.body, res.Global)
			if err != nil {
				return nil, fmt.Errorf("code section: %w", err)
			}
			emit(secCode, body)
		default:
			emit(s.id, s.body)
		}
	}
	flush(100)
	res.Wasm = out
	return res, nil
}

// appendKillGlobal appends the kill global's entry: mutable i32, 0.
func appendKillGlobal(b []byte) []byte {
	return append(b, 0x7f, 0x01, 0x41, 0x00, opEnd)
}

// importedGlobals counts the globals an import section imports.
func importedGlobals(body []byte) (uint32, error) {
	r := &reader{b: body}
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	var globals uint32
	for i := range n {
		for range 2 { // module and field names
			l, err := r.u32()
			if err != nil {
				return 0, fmt.Errorf("import %d: %w", i, err)
			}
			if err := r.skip(int(l)); err != nil {
				return 0, fmt.Errorf("import %d: %w", i, err)
			}
		}
		kind, err := r.byte()
		if err != nil {
			return 0, err
		}
		switch kind {
		case 0x00: // func: type index
			_, err = r.u32()
		case 0x01: // table: reftype, limits
			var t byte
			if t, err = r.byte(); err == nil {
				if !isRefType(t) {
					return 0, fmt.Errorf("import %d: bad table type %#x", i, t)
				}
				err = r.limits()
			}
		case 0x02: // memory: limits
			err = r.limits()
		case 0x03: // global: valtype, mutability
			var t, m byte
			if t, err = r.byte(); err == nil {
				m, err = r.byte()
			}
			if err == nil && (!isValType(t) || m > 1) {
				return 0, fmt.Errorf("import %d: bad global type %#x %#x", i, t, m)
			}
			globals++
		default:
			return 0, fmt.Errorf("import %d: unsupported kind %#x", i, kind)
		}
		if err != nil {
			return 0, fmt.Errorf("import %d: %w", i, err)
		}
	}
	if !r.eof() {
		return 0, errors.New("trailing bytes")
	}
	return globals, nil
}

// limits reads table or memory limits (flags 0-3: max present, shared).
func (r *reader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if flags > 3 {
		return fmt.Errorf("unsupported limits flags %#x", flags)
	}
	if _, err := r.u32(); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.u32()
	}
	return err
}

// addExport returns the export section body (possibly empty: no section)
// with the kill global's export appended. It refuses a module that
// already uses the reserved name or exports a global index that, invalid
// before, would be the kill global's.
func addExport(body []byte, global uint32) ([]byte, error) {
	var n uint32
	r := &reader{b: body}
	if len(body) > 0 {
		var err error
		if n, err = r.u32(); err != nil {
			return nil, err
		}
	}
	entries := r.pos
	for i := range n {
		l, err := r.u32()
		if err != nil {
			return nil, err
		}
		name, err := r.bytes(int(l))
		if err != nil {
			return nil, err
		}
		if string(name) == KillExport {
			return nil, fmt.Errorf("the module already exports %q", KillExport)
		}
		kind, err := r.byte()
		if err != nil {
			return nil, err
		}
		idx, err := r.u32()
		if err != nil {
			return nil, err
		}
		if kind == 0x03 && idx >= global {
			return nil, fmt.Errorf("export %d: global index %d out of range", i, idx)
		}
	}
	if !r.eof() {
		return nil, errors.New("trailing bytes")
	}
	if n == 1<<32-1 {
		return nil, errors.New("too many exports")
	}
	out := appendU32(make([]byte, 0, len(body)+len(KillExport)+8), n+1)
	out = append(out, body[entries:]...)
	out = appendName(out, KillExport)
	out = append(out, 0x03)
	return appendU32(out, global), nil
}

// appendCheck appends the kill check of global g.
func appendCheck(b []byte, g uint32) []byte {
	b = appendU32(append(b, opGlobalGet), g)
	return append(b, opIf, blockTypeEmpty, opUnreachable, opEnd)
}

// rewriteCode rewrites a code section body; kill is the kill global's
// index (also the number of globals the module had).
func (res *Result) rewriteCode(body []byte, kill uint32) ([]byte, error) {
	r := &reader{b: body}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(make([]byte, 0, len(body)+len(body)/8+16), n)
	var fn []byte
	for i := range n {
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		code, err := r.bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		if fn, err = res.rewriteFunc(fn[:0], code, kill); err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if !r.eof() {
		return nil, errors.New("trailing bytes")
	}
	return out, nil
}

// rewriteFunc appends the instrumented version of one function body
// (locals and expression) to out.
func (res *Result) rewriteFunc(out, code []byte, kill uint32) ([]byte, error) {
	r := &reader{b: code}
	groups, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("locals: %w", err)
	}
	for range groups {
		if _, err := r.u32(); err != nil {
			return nil, fmt.Errorf("locals: %w", err)
		}
		t, err := r.byte()
		if err != nil {
			return nil, fmt.Errorf("locals: %w", err)
		}
		if !isValType(t) {
			return nil, fmt.Errorf("locals: bad value type %#x", t)
		}
	}
	out = append(out, code[:r.pos]...)
	out = appendCheck(out, kill)
	res.Functions++
	copied := r.pos // code[copied:r.pos] is still to be copied
	depth := 1      // the function body is a block
	for depth > 0 {
		in, err := r.next()
		if err != nil {
			return nil, err
		}
		switch in.op {
		case opBlock, opIf:
			depth++
		case opLoop:
			depth++
			out = append(out, code[copied:in.end]...)
			copied = in.end
			out = appendCheck(out, kill)
			res.Loops++
		case opEnd:
			depth--
		case opGlobalGet, opGlobalSet:
			// The original module cannot name the kill global: a module
			// that does is invalid, and must not become valid (or able to
			// clear the global) through the rewrite.
			if in.global >= kill {
				return nil, fmt.Errorf("offset %d: global index %d out of range", in.start, in.global)
			}
		}
	}
	if !r.eof() {
		return nil, fmt.Errorf("%d bytes after the function's end", len(code)-r.pos)
	}
	return append(out, code[copied:]...), nil
}
