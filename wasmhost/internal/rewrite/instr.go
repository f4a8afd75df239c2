package rewrite

import "fmt"

// Opcodes the rewriter acts on or needs to tell apart.
const (
	opUnreachable        = 0x00
	opBlock              = 0x02
	opLoop               = 0x03
	opIf                 = 0x04
	opElse               = 0x05
	opEnd                = 0x0b
	opCall               = 0x10
	opCallIndirect       = 0x11
	opReturnCall         = 0x12
	opReturnCallIndirect = 0x13
	opLocalGet           = 0x20
	opLocalSet           = 0x21
	opLocalTee           = 0x22
	opDrop               = 0x1a
	opMemoryGrow         = 0x40
	opI32Const           = 0x41
	opI32LtS             = 0x48
	opI32Sub             = 0x6b
	opBrTable            = 0x0e
	opGlobalGet          = 0x23
	opGlobalSet          = 0x24
	opPrefixMisc         = 0xfc
	opPrefixSIMD         = 0xfd
	opPrefixThread       = 0xfe

	blockTypeEmpty = 0x40
)

// noIndex is instr.index of instructions without a global or function
// index.
const noIndex = ^uint32(0)

// instr is one decoded instruction: its opcode (prefix and sub-opcode for
// the prefixed families), its byte range in the body and the global or
// function index it names, if any.
type instr struct {
	op     byte
	sub    uint32 // sub-opcode after a 0xFC/0xFD/0xFE prefix
	start  int    // offset of the opcode
	end    int    // offset just after the immediates
	index  uint32 // global.get/set: global; call, return_call, ref.func: function; else noIndex
	global bool   // index is a global index
	memory bool   // the instruction accesses memory 0
}

// isValType tells whether c is a one-byte value type of wasm 2.0
// (i32, i64, f32, f64, v128, funcref, externref).
func isValType(c byte) bool {
	switch c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return true
	}
	return false
}

func isRefType(c byte) bool { return c == 0x70 || c == 0x6f }

// next decodes the instruction at r.pos and advances past it. It knows the
// immediates of every instruction of wasm 2.0 (MVP, sign extension,
// non-trapping float-to-int, multi-value, bulk memory, reference types,
// fixed-width SIMD) and of the tail-call and threads proposals. Opcodes it
// does not know are errors: skipping them blindly could desynchronise the
// walk, and a rewrite must never miss a loop.
func (r *reader) next() (in instr, err error) {
	in.start, in.index = r.pos, noIndex
	defer func() {
		in.end = r.pos
		if err != nil {
			err = fmt.Errorf("instruction at offset %d (opcode %#x): %w", in.start, in.op, err)
		}
	}()
	if in.op, err = r.byte(); err != nil {
		return in, err
	}
	switch op := in.op; {
	case op == 0x00, op == 0x01, op == 0x05, op == 0x0b, op == 0x0f: // unreachable nop else end return
	case op == 0x02, op == 0x03, op == 0x04: // block loop if
		err = r.blockType()
	case op == 0x0c, op == 0x0d: // br br_if
		_, err = r.u32()
	case op == opBrTable:
		var n uint32
		if n, err = r.u32(); err != nil {
			return in, err
		}
		for i := uint64(0); i <= uint64(n); i++ { // n labels and the default
			if _, err = r.u32(); err != nil {
				return in, err
			}
		}
	case op == 0x10, op == 0x12: // call return_call
		in.index, err = r.u32()
	case op == 0x11, op == 0x13: // call_indirect return_call_indirect: type, table
		err = r.u32s(2)
	case op == 0x1a, op == 0x1b: // drop select
	case op == 0x1c: // select t*
		var n uint32
		if n, err = r.u32(); err != nil {
			return in, err
		}
		for range n {
			var t byte
			if t, err = r.byte(); err != nil {
				return in, err
			}
			if !isValType(t) {
				return in, fmt.Errorf("bad value type %#x", t)
			}
		}
	case op >= 0x20 && op <= 0x22: // local.get/set/tee
		_, err = r.u32()
	case op == opGlobalGet, op == opGlobalSet:
		in.index, err = r.u32()
		in.global = true
	case op == 0x25, op == 0x26: // table.get table.set
		_, err = r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		in.memory = true
		err = r.memArg()
	case op == 0x3f, op == 0x40: // memory.size memory.grow
		in.memory = true
		_, err = r.u32()
	case op == 0x41:
		_, err = r.signed(32)
	case op == 0x42:
		_, err = r.signed(64)
	case op == 0x43:
		err = r.skip(4)
	case op == 0x44:
		err = r.skip(8)
	case op >= 0x45 && op <= 0xc4: // numeric, sign extension: no immediates
	case op == 0xd0: // ref.null t
		var t byte
		if t, err = r.byte(); err == nil && !isRefType(t) {
			err = fmt.Errorf("bad reference type %#x", t)
		}
	case op == 0xd1: // ref.is_null
	case op == 0xd2: // ref.func
		in.index, err = r.u32()
	case op == opPrefixMisc:
		if in.sub, err = r.u32(); err != nil {
			return in, err
		}
		err = r.miscImmediates(in.sub)
		in.memory = in.sub == 8 || in.sub == 10 || in.sub == 11
	case op == opPrefixSIMD:
		if in.sub, err = r.u32(); err != nil {
			return in, err
		}
		err = r.simdImmediates(in.sub)
		in.memory = in.sub <= 11 || (in.sub >= 84 && in.sub <= 93)
	case op == opPrefixThread:
		if in.sub, err = r.u32(); err != nil {
			return in, err
		}
		err = r.threadImmediates(in.sub)
		in.memory = in.sub != 3
	default:
		err = fmt.Errorf("unknown opcode")
	}
	return in, err
}

// blockType reads a block type: empty, a value type or a type index (s33,
// non-negative).
func (r *reader) blockType() error {
	if r.pos >= len(r.b) {
		return errEOF
	}
	if c := r.b[r.pos]; c == blockTypeEmpty || isValType(c) {
		r.pos++
		return nil
	}
	idx, err := r.signed(33)
	if err != nil {
		return err
	}
	if idx < 0 {
		return fmt.Errorf("bad block type %d", idx)
	}
	return nil
}

// memArg reads a memory argument: alignment (with the multi-memory flag
// bit 6 announcing a memory index) and offset.
func (r *reader) memArg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	_, err = r.u32()
	return err
}

func (r *reader) u32s(n int) error {
	for range n {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

// miscImmediates reads the immediates of 0xFC sub-opcodes: saturating
// truncation (0-7), bulk memory and table instructions (8-17).
func (r *reader) miscImmediates(sub uint32) error {
	switch {
	case sub <= 7: // iNN.trunc_sat_fMM_s/u
		return nil
	case sub == 8: // memory.init data mem
		return r.u32s(2)
	case sub == 9: // data.drop
		return r.u32s(1)
	case sub == 10: // memory.copy mem mem
		return r.u32s(2)
	case sub == 11: // memory.fill mem
		return r.u32s(1)
	case sub == 12: // table.init elem table
		return r.u32s(2)
	case sub == 13: // elem.drop
		return r.u32s(1)
	case sub == 14: // table.copy table table
		return r.u32s(2)
	case sub >= 15 && sub <= 17: // table.grow table.size table.fill
		return r.u32s(1)
	}
	return fmt.Errorf("unknown 0xfc sub-opcode %d", sub)
}

// simdImmediates reads the immediates of 0xFD (fixed-width SIMD)
// sub-opcodes.
func (r *reader) simdImmediates(sub uint32) error {
	switch {
	case sub <= 11: // v128.load*, v128.load*_splat, v128.store
		return r.memArg()
	case sub == 12: // v128.const
		return r.skip(16)
	case sub == 13: // i8x16.shuffle: 16 lane indices
		return r.skip(16)
	case sub <= 20: // i8x16.swizzle, *.splat
		return nil
	case sub <= 34: // *.extract_lane*, *.replace_lane: lane index
		return r.skip(1)
	case sub <= 83: // comparisons, v128 bitwise, v128.any_true
		return nil
	case sub <= 91: // v128.loadN_lane, v128.storeN_lane: memarg, lane
		if err := r.memArg(); err != nil {
			return err
		}
		return r.skip(1)
	case sub <= 93: // v128.load32_zero, v128.load64_zero
		return r.memArg()
	case sub <= 255: // the rest of the arithmetic: no immediates
		return nil
	}
	return fmt.Errorf("unknown 0xfd sub-opcode %d", sub)
}

// threadImmediates reads the immediates of 0xFE (threads proposal)
// sub-opcodes.
func (r *reader) threadImmediates(sub uint32) error {
	switch {
	case sub <= 2: // memory.atomic.notify, memory.atomic.wait32/64
		return r.memArg()
	case sub == 3: // atomic.fence: a zero byte
		c, err := r.byte()
		if err == nil && c != 0 {
			err = fmt.Errorf("atomic.fence flags %#x", c)
		}
		return err
	case sub >= 0x10 && sub <= 0x4e: // atomic loads, stores, RMW, cmpxchg
		return r.memArg()
	}
	return fmt.Errorf("unknown 0xfe sub-opcode %d", sub)
}
