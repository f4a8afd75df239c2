// Package rewrite instruments a WebAssembly module so that the host can
// stop it at any time without help from the runtime.
//
// Instrument appends two mutable i32 globals, $fuel and $kill (exported
// under the reserved name KillExport), and one function, $poll, and inserts
// checks that call $poll once every Fuel times they run:
//
//   - at the head of every loop, counting down a local added to the
//     function ($f, set to Fuel at the function's entry):
//
//     local.get $f  i32.const 1  i32.sub  local.tee $f  i32.const 0  i32.lt_s
//     if  call $poll  i32.const Fuel  local.set $f  end
//
//   - at the entry of every function that makes calls, counting down
//     $fuel (a leaf function cannot recurse, and a loop in it has its own
//     check):
//
//     global.get $fuel  i32.const 1  i32.sub  global.set $fuel
//     global.get $fuel  i32.const 0  i32.lt_s  if  call $poll  end
//
// $poll is
//
//	i32.const 0  memory.grow  drop   ;; a call into Go: a preemption point
//	global.get $kill  if  unreachable  end
//	i32.const Fuel  global.set $fuel
//
// Any unbounded execution runs loop heads or entries of calling functions
// over and over, so once the host sets $kill to non-zero (with wazero's
// api.MutableGlobal, from any goroutine) the guest traps within about Fuel
// loop iterations or calls. This replaces wazero's WithCloseOnContextDone,
// whose compiled checks call into Go at every loop iteration and which
// costs a goroutine and a channel per call from the host into the guest.
// A loop counter in a local lives in a register: a tight loop pays a
// decrement and a predictable branch per iteration.
//
// The memory.grow of zero pages matters as much as the kill flag. Native
// code cannot be preempted by the Go scheduler: a guest that never leaves
// it holds up every stop-the-world phase of the garbage collector, and with
// it the goroutine that would set $kill. wazero implements memory.grow in
// Go, so $poll gives the scheduler a safe point every Fuel checks.
//
// Nothing moves in any index space: the globals, the function, its type,
// the locals and (for a module without one) a zero-page memory are
// appended after the existing ones, so every section but type, function, memory, global,
// export and code (custom ones included: names keep pointing at the right
// functions, locals and globals) is copied as is. DWARF line information,
// which refers to code offsets, becomes inexact.
//
// A module the rewriter does not understand is rejected with an error,
// never rewritten partially; wazero validates the result as usual.
package rewrite

import (
	"bytes"
	"errors"
	"fmt"
)

// KillExport is the name under which Instrument exports the kill global.
const KillExport = "__wasmgate_kill"

// Fuel is the number of checks between two polls. A poll costs a call into
// Go (some tens of nanoseconds); the count bounds both the delay of a kill
// and how long a looping guest can hold up the garbage collector.
const Fuel = 4096

// ErrNotInstrumentable wraps every Instrument error.
var ErrNotInstrumentable = errors.New("module cannot be instrumented")

// Result is an instrumented module.
type Result struct {
	// Wasm is the instrumented module.
	Wasm []byte
	// Global is the index of the kill global (exported as KillExport);
	// the fuel global is Global-1, the module's globals come before.
	Global uint32
	// Poll is the index of the poll function.
	Poll uint32
	// Functions and Loops count the checks inserted (at function entries
	// and loop heads).
	Functions, Loops int

	noMemory bool // the module had no memory: one is added for $poll
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

// counts are the sizes of the index spaces that matter here.
type counts struct {
	types                 uint32
	typeParams            []uint32 // parameter count of each type
	funcParams            []uint32 // parameter count of each defined function
	importFuncs, funcs    uint32   // funcs: defined
	importMems, mems      uint32
	importGlobals, global uint32 // global: defined
}

// Instrument returns wasm with the checks inserted. It does not modify
// wasm. Errors wrap ErrNotInstrumentable.
func Instrument(wasm []byte) (*Result, error) {
	res, err := instrument(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotInstrumentable, err)
	}
	return res, nil
}

// vecCount reads the element count at the start of a section body and
// returns it with the rest of the body.
func vecCount(body []byte) (uint32, []byte, error) {
	r := &reader{b: body}
	n, err := r.u32()
	if err != nil {
		return 0, nil, err
	}
	return n, body[r.pos:], nil
}

// sections splits a binary module into its sections, checking the header
// and that the non-custom sections are known and in order.
func sections(wasm []byte) ([]section, error) {
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
	return secs, nil
}

func instrument(wasm []byte) (*Result, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}

	var c counts
	rest := map[byte][]byte{} // bodies of vector sections, count removed
	for _, s := range secs {
		var err error
		switch s.id {
		case secImport:
			err = c.imports(s.body)
		case secType:
			if c.types, rest[s.id], err = vecCount(s.body); err == nil {
				err = c.parseTypes(rest[s.id])
			}
		case secFunction:
			if c.funcs, rest[s.id], err = vecCount(s.body); err == nil {
				err = c.parseFunctions(rest[s.id])
			}
		case secMemory:
			c.mems, rest[s.id], err = vecCount(s.body)
		case secGlobal:
			c.global, rest[s.id], err = vecCount(s.body)
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	total := uint64(c.importGlobals) + uint64(c.global)
	funcs := uint64(c.importFuncs) + uint64(c.funcs)
	if total+2 > 1<<32-1 || funcs+1 > 1<<32-1 || c.types == 1<<32-1 {
		return nil, errors.New("index space full")
	}
	fuel := uint32(total)
	res := &Result{Global: fuel + 1, Poll: uint32(funcs)}

	// The new or extended sections, by id.
	repl := map[byte][]byte{}
	t := append(appendU32(nil, c.types+1), rest[secType]...)
	repl[secType] = append(t, 0x60, 0, 0) // () -> ()
	repl[secFunction] = appendU32(append(appendU32(nil, c.funcs+1), rest[secFunction]...), c.types)
	if c.importMems+c.mems == 0 {
		// $poll needs a memory. A module without one may not use any: the
		// added memory must not make an invalid module valid.
		for _, s := range secs {
			if s.id == secData && !bytes.Equal(s.body, []byte{0}) {
				return nil, errors.New("data segments but no memory")
			}
		}
		repl[secMemory] = []byte{1, 0x01, 0, 0} // one memory, 0 to 0 pages
		res.noMemory = true
	}
	g := append(appendU32(nil, c.global+2), rest[secGlobal]...)
	g = append(g, 0x7f, 0x01, 0x41, 0x00, opEnd) // $fuel: mut i32 = 0
	repl[secGlobal] = append(g, 0x7f, 0x01, 0x41, 0x00, opEnd)
	var exports []byte
	for _, s := range secs {
		if s.id == secExport {
			exports = s.body
		}
	}
	if repl[secExport], err = addExport(exports, res.Global, res.Poll); err != nil {
		return nil, fmt.Errorf("export section: %w", err)
	}
	var code []byte
	for _, s := range secs {
		if s.id == secCode {
			code = s.body
		}
	}
	if repl[secCode], err = res.rewriteCode(code, fuel, c.funcParams); err != nil {
		return nil, fmt.Errorf("code section: %w", err)
	}

	out := make([]byte, 0, len(wasm)+len(wasm)/4+128)
	out = append(out, header...)
	emit := func(id byte, body []byte) { out = appendSection(out, id, body) }
	// flush emits the new sections that come before a section of rank.
	flush := func(rank int) {
		for _, id := range []byte{secType, secFunction, secMemory, secGlobal, secExport, secCode} {
			if body, ok := repl[id]; ok && sectionRank(id) < rank {
				emit(id, body)
				delete(repl, id)
			}
		}
	}
	// Custom sections after the last known one (names, producers, DWARF)
	// stay at the end.
	last := -1
	for i, s := range secs {
		if s.id != secCustom {
			last = i
		}
	}
	if last < 0 {
		flush(100)
	}
	for i, s := range secs {
		if s.id == secCustom {
			emit(s.id, s.body)
			continue
		}
		flush(sectionRank(s.id))
		if body, ok := repl[s.id]; ok {
			emit(s.id, body)
			delete(repl, s.id)
		} else {
			emit(s.id, s.body)
		}
		if i == last {
			flush(100)
		}
	}
	res.Wasm = out
	return res, nil
}

// imports counts the functions, memories and globals an import section
// imports.
func (c *counts) imports(body []byte) error {
	r := &reader{b: body}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := range n {
		for range 2 { // module and field names
			l, err := r.u32()
			if err != nil {
				return fmt.Errorf("import %d: %w", i, err)
			}
			if err := r.skip(int(l)); err != nil {
				return fmt.Errorf("import %d: %w", i, err)
			}
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0x00: // func: type index
			_, err = r.u32()
			c.importFuncs++
		case 0x01: // table: reftype, limits
			var t byte
			if t, err = r.byte(); err == nil {
				if !isRefType(t) {
					return fmt.Errorf("import %d: bad table type %#x", i, t)
				}
				err = r.limits()
			}
		case 0x02: // memory: limits
			err = r.limits()
			c.importMems++
		case 0x03: // global: valtype, mutability
			var t, m byte
			if t, err = r.byte(); err == nil {
				m, err = r.byte()
			}
			if err == nil && (!isValType(t) || m > 1) {
				return fmt.Errorf("import %d: bad global type %#x %#x", i, t, m)
			}
			c.importGlobals++
		default:
			return fmt.Errorf("import %d: unsupported kind %#x", i, kind)
		}
		if err != nil {
			return fmt.Errorf("import %d: %w", i, err)
		}
	}
	if !r.eof() {
		return errors.New("trailing bytes")
	}
	return nil
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

// addExport returns the export section body with the kill global's export
// appended (body may be empty: no section). It refuses a module that
// already uses the reserved name, or exports a global or function index
// that, invalid before, would name what the rewrite adds.
func addExport(body []byte, kill, poll uint32) ([]byte, error) {
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
		if (kind == 0x03 && idx >= kill-1) || (kind == 0x00 && idx >= poll) {
			return nil, fmt.Errorf("export %d: index %d out of range", i, idx)
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
	return appendU32(out, kill), nil
}

// parseTypes records the parameter count of the types (rest: the type
// section after its count).
func (c *counts) parseTypes(rest []byte) error {
	r := &reader{b: rest}
	c.typeParams = make([]uint32, 0, min(int(c.types), len(rest)))
	for i := range c.types {
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return fmt.Errorf("type %d: unsupported form %#x", i, form)
		}
		var params uint32
		for j := range 2 { // parameters, results
			n, err := r.u32()
			if err != nil {
				return err
			}
			for range n {
				t, err := r.byte()
				if err != nil {
					return err
				}
				if !isValType(t) {
					return fmt.Errorf("type %d: bad value type %#x", i, t)
				}
			}
			if j == 0 {
				params = n
			}
		}
		c.typeParams = append(c.typeParams, params)
	}
	if !r.eof() {
		return errors.New("trailing bytes")
	}
	return nil
}

// parseFunctions records the parameter count of the defined functions
// (rest: the function section after its count; types come before).
func (c *counts) parseFunctions(rest []byte) error {
	r := &reader{b: rest}
	c.funcParams = make([]uint32, 0, min(int(c.funcs), len(rest)))
	for i := range c.funcs {
		t, err := r.u32()
		if err != nil {
			return err
		}
		if t >= uint32(len(c.typeParams)) {
			return fmt.Errorf("function %d: type index %d out of range", i, t)
		}
		c.funcParams = append(c.funcParams, c.typeParams[t])
	}
	if !r.eof() {
		return errors.New("trailing bytes")
	}
	return nil
}

// appendEntryCheck appends the check at the entry of a calling function:
// decrement $fuel, call $poll when it is negative.
func appendEntryCheck(b []byte, fuel, poll uint32) []byte {
	b = appendU32(append(b, opGlobalGet), fuel)
	b = append(b, opI32Const, 1, opI32Sub, opGlobalSet)
	b = appendU32(b, fuel)
	b = appendU32(append(b, opGlobalGet), fuel)
	b = append(b, opI32Const, 0, opI32LtS, opIf, blockTypeEmpty, opCall)
	b = appendU32(b, poll)
	return append(b, opEnd)
}

// appendLoopInit appends the initialisation of the loop counter local.
func appendLoopInit(b []byte, local uint32) []byte {
	b = appendS32(append(b, opI32Const), Fuel)
	return appendU32(append(b, opLocalSet), local)
}

// appendLoopCheck appends the check at a loop head: decrement the local,
// call $poll and refill when it is negative.
func appendLoopCheck(b []byte, local, poll uint32) []byte {
	b = appendU32(append(b, opLocalGet), local)
	b = append(b, opI32Const, 1, opI32Sub, opLocalTee)
	b = appendU32(b, local)
	b = append(b, opI32Const, 0, opI32LtS, opIf, blockTypeEmpty, opCall)
	b = appendU32(b, poll)
	b = appendLoopInit(b, local)
	return append(b, opEnd)
}

// appendPoll appends the body of $poll (no locals).
func appendPoll(b []byte, fuel uint32) []byte {
	body := []byte{0, opI32Const, 0, opMemoryGrow, 0, opDrop, opGlobalGet}
	body = appendU32(body, fuel+1)
	body = append(body, opIf, blockTypeEmpty, opUnreachable, opEnd, opI32Const)
	body = appendS32(body, Fuel)
	body = appendU32(append(body, opGlobalSet), fuel)
	body = append(body, opEnd)
	return append(appendU32(b, uint32(len(body))), body...)
}

// rewriteCode rewrites a code section body (possibly empty: no section)
// and appends $poll. params is the parameter count of each function.
func (res *Result) rewriteCode(body []byte, fuel uint32, params []uint32) ([]byte, error) {
	var n uint32
	r := &reader{b: body}
	if len(body) > 0 {
		var err error
		if n, err = r.u32(); err != nil {
			return nil, err
		}
	}
	if int(n) != len(params) {
		return nil, fmt.Errorf("%d bodies for %d functions", n, len(params))
	}
	out := appendU32(make([]byte, 0, len(body)+len(body)/4+64), n+1)
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
		if fn, err = res.rewriteFunc(fn[:0], code, fuel, params[i]); err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if !r.eof() {
		return nil, errors.New("trailing bytes")
	}
	return appendPoll(out, fuel), nil
}

// funcInfo is what the first pass over a function body learns.
type funcInfo struct {
	locals uint64 // declared locals
	expr   int    // offset of the expression (after the locals)
	loops  bool
	calls  bool
	groups uint32
	decl   int // offset of the first local group
}

// scanFunc decodes a function body once, checking it and finding whether
// it has loops and calls.
func (res *Result) scanFunc(code []byte, fuel uint32) (fi funcInfo, err error) {
	r := &reader{b: code}
	if fi.groups, err = r.u32(); err != nil {
		return fi, fmt.Errorf("locals: %w", err)
	}
	fi.decl = r.pos
	for range fi.groups {
		n, err := r.u32()
		if err != nil {
			return fi, fmt.Errorf("locals: %w", err)
		}
		fi.locals += uint64(n)
		t, err := r.byte()
		if err != nil {
			return fi, fmt.Errorf("locals: %w", err)
		}
		if !isValType(t) {
			return fi, fmt.Errorf("locals: bad value type %#x", t)
		}
	}
	fi.expr = r.pos
	depth := 1 // the function body is a block
	for depth > 0 {
		in, err := r.next()
		if err != nil {
			return fi, err
		}
		switch in.op {
		case opBlock, opIf:
			depth++
		case opLoop:
			depth++
			fi.loops = true
		case opEnd:
			depth--
		case opCall, opCallIndirect, opReturnCall, opReturnCallIndirect:
			fi.calls = true
		}
		// The original module cannot name what the rewrite adds: a module
		// that does is invalid, and must not become valid (or able to
		// reset the fuel) through the rewrite.
		if in.index != noIndex && ((in.global && in.index >= fuel) || (!in.global && in.index >= res.Poll)) {
			return fi, fmt.Errorf("offset %d: index %d out of range", in.start, in.index)
		}
		if in.memory && res.noMemory {
			return fi, fmt.Errorf("offset %d: memory instruction but no memory", in.start)
		}
	}
	if !r.eof() {
		return fi, fmt.Errorf("%d bytes after the function's end", len(code)-r.pos)
	}
	return fi, nil
}

// rewriteFunc appends the instrumented version of one function body
// (locals and expression) to out.
func (res *Result) rewriteFunc(out, code []byte, fuel, params uint32) ([]byte, error) {
	fi, err := res.scanFunc(code, fuel)
	if err != nil {
		return nil, err
	}
	var counter uint32 // the loop counter local
	if fi.loops {
		idx := uint64(params) + fi.locals
		if idx >= 1<<32-1 || fi.groups == 1<<32-1 {
			return nil, fmt.Errorf("too many locals (%d)", idx)
		}
		counter = uint32(idx)
		out = appendU32(out, fi.groups+1)
		out = append(out, code[fi.decl:fi.expr]...)
		out = append(out, 1, 0x7f) // one i32
	} else {
		out = append(out, code[:fi.expr]...)
	}
	if fi.calls {
		out = appendEntryCheck(out, fuel, res.Poll)
		res.Functions++
	}
	if !fi.loops {
		return append(out, code[fi.expr:]...), nil
	}
	out = appendLoopInit(out, counter)
	r := &reader{b: code, pos: fi.expr}
	copied := r.pos // code[copied:r.pos] is still to be copied
	for !r.eof() {
		in, err := r.next()
		if err != nil {
			return nil, err // not reached: scanFunc decoded it
		}
		if in.op == opLoop {
			out = append(out, code[copied:in.end]...)
			copied = in.end
			out = appendLoopCheck(out, counter, res.Poll)
			res.Loops++
		}
	}
	return append(out, code[copied:]...), nil
}
