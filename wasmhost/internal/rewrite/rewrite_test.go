package rewrite

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// features are those of the wasmhost runtime plus tail calls, which the
// fixtures use to cover return_call.
const features = api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newRuntime returns a compiler runtime with the "env" fixture module,
// optionally with wazero's own termination checks.
func newRuntime(t testing.TB, closeOnContextDone ...bool) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features)
	if len(closeOnContextDone) > 0 {
		cfg = cfg.WithCloseOnContextDone(closeOnContextDone[0])
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	t.Cleanup(func() { _ = rt.Close(ctx) })
	if _, err := rt.InstantiateWithConfig(ctx, fixture(t, "env"), wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	return rt
}

func instantiate(t testing.TB, rt wazero.Runtime, wasm []byte) api.Module {
	t.Helper()
	mod, err := rt.InstantiateWithConfig(context.Background(), wasm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

func mustInstrument(t testing.TB, wasm []byte) *Result {
	t.Helper()
	res, err := Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	checkInstrumented(t, wasm, res)
	return res
}

// mustSections splits a module into its sections.
func mustSections(t testing.TB, wasm []byte) []section {
	t.Helper()
	secs, err := sections(wasm)
	if err != nil {
		t.Fatal(err)
	}
	return secs
}

// changed tells whether the rewrite may change a section.
func changed(id byte) bool {
	switch id {
	case secType, secFunction, secMemory, secGlobal, secExport, secCode:
		return true
	}
	return false
}

// checkInstrumented verifies the instrumented module structurally, by
// decoding it again: every function that calls starts with the entry
// check (after its locals); every function with loops declares the
// counter local last, initialises it first, and every loop's body starts
// with the loop check; the last function is $poll; the counts match; and
// the sections the rewrite has no business changing are byte-identical and
// in order.
func checkInstrumented(t testing.TB, orig []byte, res *Result) {
	t.Helper()
	entry := appendEntryCheck(nil, res.Global-1, res.Poll)
	var origIDs, gotIDs []byte
	var origOther, gotOther [][]byte
	for _, s := range mustSections(t, orig) {
		origIDs = append(origIDs, s.id)
		if !changed(s.id) {
			origOther = append(origOther, s.body)
		}
	}
	var c counts
	fns, loops := 0, 0
	for _, s := range mustSections(t, res.Wasm) {
		gotIDs = append(gotIDs, s.id)
		if !changed(s.id) {
			gotOther = append(gotOther, s.body)
		}
		var err error
		var rest []byte
		switch s.id {
		case secType:
			if c.types, rest, err = vecCount(s.body); err == nil {
				err = c.parseTypes(rest)
			}
		case secFunction:
			if c.funcs, rest, err = vecCount(s.body); err == nil {
				err = c.parseFunctions(rest)
			}
		}
		if err != nil {
			t.Fatalf("section %d: %v", s.id, err)
		}
		if s.id != secCode {
			continue
		}
		r := &reader{b: s.body}
		n, _ := r.u32()
		for i := range n {
			size, _ := r.u32()
			code, err := r.bytes(int(size))
			if err != nil {
				t.Fatalf("function %d: %v", i, err)
			}
			if i == n-1 {
				if poll := appendPoll(nil, res.Global-1); !bytes.Equal(s.body[r.pos-len(code)-len(appendU32(nil, size)):r.pos], poll) {
					t.Fatalf("last function is not $poll")
				}
				break
			}
			fr := &reader{b: code}
			groups, _ := fr.u32()
			var locals uint64
			var last []byte
			for range groups {
				start := fr.pos
				k, _ := fr.u32()
				_, _ = fr.byte()
				locals += uint64(k)
				last = code[start:fr.pos]
			}
			counter := uint32(uint64(c.funcParams[i]) + locals - 1)
			expr := fr.pos
			calls, hasLoops := false, false
			for !fr.eof() {
				in, err := fr.next()
				if err != nil {
					t.Fatalf("function %d: %v", i, err)
				}
				switch in.op {
				case opCall, opReturnCall:
					calls = calls || in.index != res.Poll
				case opCallIndirect, opReturnCallIndirect:
					calls = true
				case opLoop:
					hasLoops = true
					loops++
					if !bytes.HasPrefix(code[in.end:], appendLoopCheck(nil, counter, res.Poll)) {
						t.Fatalf("function %d: loop at %d does not start with the check", i, in.start)
					}
				}
			}
			at := expr
			if calls {
				if !bytes.HasPrefix(code[at:], entry) {
					t.Fatalf("function %d calls but does not start with the check", i)
				}
				at += len(entry)
				fns++
			}
			if hasLoops {
				if !bytes.Equal(last, []byte{1, 0x7f}) {
					t.Fatalf("function %d: last local group % x, want the counter", i, last)
				}
				if !bytes.HasPrefix(code[at:], appendLoopInit(nil, counter)) {
					t.Fatalf("function %d: no counter initialisation", i)
				}
			}
		}
	}
	if fns != res.Functions || loops != res.Loops {
		t.Errorf("found %d function and %d loop checks, Result says %d and %d", fns, loops, res.Functions, res.Loops)
	}
	gotIDs = slices.DeleteFunc(gotIDs, changed)
	origIDs = slices.DeleteFunc(origIDs, changed)
	if !bytes.Equal(gotIDs, origIDs) {
		t.Errorf("section order %v, want %v", gotIDs, origIDs)
	}
	if !slices.EqualFunc(gotOther, origOther, bytes.Equal) {
		t.Error("sections the rewrite must keep changed")
	}
}

// TestInstrumentPreservesBehaviour runs the fixtures' functions before and
// after instrumentation.
func TestInstrumentPreservesBehaviour(t *testing.T) {
	type call struct {
		fn   string
		args []uint64
		want []uint64
	}
	tests := []struct {
		fixture         string
		functions, loop int
		calls           []call
	}{
		{"control", 8, 5, []call{
			{"sum", []uint64{10}, []uint64{1055}},
			{"fib", []uint64{20}, []uint64{6765}},
			{"indirect", []uint64{5}, []uint64{120 + 5}},
			{"pairs", []uint64{10}, []uint64{55, 89}},
			{"classify", []uint64{10}, []uint64{4 + 300}},
			{"misc", nil, nil},
			{"calls", nil, []uint64{1}},
			{"spin_callee", nil, nil}, // not called: it would not return
		}},
		{"simd", 0, 3, []call{
			{"vsum", []uint64{4}, []uint64{40}},
			{"lanes", nil, nil},
		}},
		{"bare", 1, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			orig := fixture(t, tt.fixture)
			res := mustInstrument(t, orig)
			if res.Functions != tt.functions || res.Loops != tt.loop {
				t.Errorf("instrumented %d functions and %d loops, want %d and %d", res.Functions, res.Loops, tt.functions, tt.loop)
			}
			rt := newRuntime(t)
			before, after := instantiate(t, rt, orig), instantiate(t, rt, res.Wasm)
			g, ok := after.ExportedGlobal(KillExport).(api.MutableGlobal)
			if !ok || g.Type() != api.ValueTypeI32 || g.Get() != 0 {
				t.Fatalf("kill global %v: want a mutable i32 export equal to 0", after.ExportedGlobal(KillExport))
			}
			for _, c := range tt.calls {
				if strings.HasPrefix(c.fn, "spin") {
					continue
				}
				want, err := before.ExportedFunction(c.fn).Call(context.Background(), c.args...)
				if err != nil {
					t.Fatalf("original %s: %v", c.fn, err)
				}
				if c.want != nil && !slices.Equal(want, c.want) {
					t.Errorf("original %s%v = %v, fixture expects %v", c.fn, c.args, want, c.want)
				}
				got, err := after.ExportedFunction(c.fn).Call(context.Background(), c.args...)
				if err != nil || !slices.Equal(got, want) {
					t.Errorf("instrumented %s%v = %v, %v; want %v", c.fn, c.args, got, err, want)
				}
			}
		})
	}
}

// TestKill sets the kill global while the guest runs code that never
// returns on its own; the guest must trap. The delay before setting it
// only makes the guest be well inside its loop; no timing is asserted.
func TestKill(t *testing.T) {
	tests := []struct {
		fixture, fn string
		args        []uint64
	}{
		{"control", "spin", nil},
		{"control", "spin_callee", nil},
		{"control", "spin_if", []uint64{1}},
		{"control", "fib", []uint64{70}}, // recursion: no loop, ~1.6^70 calls
		{"control", "ping", []uint64{0}}, // endless tail calls
		{"simd", "vspin", nil},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			res := mustInstrument(t, fixture(t, tt.fixture))
			mod := instantiate(t, newRuntime(t), res.Wasm)
			kill := mod.ExportedGlobal(KillExport).(api.MutableGlobal)
			done := make(chan error, 1)
			go func() {
				_, err := mod.ExportedFunction(tt.fn).Call(context.Background(), tt.args...)
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("%s returned before the kill: %v", tt.fn, err)
			case <-time.After(20 * time.Millisecond):
			}
			// Native code cannot be preempted: without $poll's call into
			// Go, a collection would wait forever for the guest.
			runtime.GC()
			kill.Set(1)
			if err := <-done; err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("err = %v, want an unreachable trap", err)
			}
		})
	}
	t.Run("already set", func(t *testing.T) {
		// fib(20) makes more than Fuel calls: it traps, wherever the
		// fuel stood, instead of returning.
		res := mustInstrument(t, fixture(t, "control"))
		mod := instantiate(t, newRuntime(t), res.Wasm)
		mod.ExportedGlobal(KillExport).(api.MutableGlobal).Set(1)
		if got, err := mod.ExportedFunction("fib").Call(context.Background(), 20); err == nil {
			t.Fatalf("fib returned %v with the kill global set", got)
		}
	})
}

// TestNamesKept checks that the name section survives (byte for byte, by
// checkInstrumented) and still names the right functions in traps.
func TestNamesKept(t *testing.T) {
	res := mustInstrument(t, fixture(t, "control"))
	mod := instantiate(t, newRuntime(t), res.Wasm)
	mod.ExportedGlobal(KillExport).(api.MutableGlobal).Set(1)
	_, err := mod.ExportedFunction("spin_callee").Call(context.Background())
	if err == nil || !strings.Contains(err.Error(), "spin_callee") {
		t.Fatalf("err = %v, want a stack trace naming spin_callee", err)
	}
}

func TestKillGlobalIndex(t *testing.T) {
	for _, tt := range []struct {
		fixture string
		want    uint32
	}{
		{"control", 4}, // 1 imported + 2 defined + fuel
		{"simd", 1},    // no globals
		{"bare", 1},    // no global, no export section
	} {
		res := mustInstrument(t, fixture(t, tt.fixture))
		if res.Global != tt.want {
			t.Errorf("%s: kill global %d, want %d", tt.fixture, res.Global, tt.want)
		}
	}
}

// module assembles a module from sections (id, body) for the tests.
func module(secs ...section) []byte {
	b := slices.Clone(header)
	for _, s := range secs {
		b = append(b, s.id)
		b = appendU32(b, uint32(len(s.body)))
		b = append(b, s.body...)
	}
	return b
}

// oneFunc is a module with a single () -> () function whose expression
// (without the final end) is expr.
func oneFunc(expr ...byte) []byte {
	body := append([]byte{0}, expr...) // no locals
	body = append(body, opEnd)
	code := append(appendU32([]byte{1}, uint32(len(body))), body...)
	return module(
		section{secType, []byte{1, 0x60, 0, 0}},
		section{secFunction, []byte{1, 0}},
		section{secCode, code},
	)
}

func TestInstrumentRejects(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"empty", nil, "not a wasm"},
		{"component", []byte{0, 'a', 's', 'm', 0x0d, 0, 1, 0}, "not a wasm"},
		{"truncated section", append(slices.Clone(header), secType, 5, 1), "unexpected end"},
		{"unknown section", module(section{13, []byte{0}}), "unsupported section"},
		{"out of order", module(section{secFunction, []byte{0}}, section{secType, []byte{0}}), "out of order"},
		{"repeated", module(section{secType, []byte{0}}, section{secType, []byte{0}}), "out of order"},
		{"unknown opcode", oneFunc(0x06), "unknown opcode"},
		{"unknown 0xfc", oneFunc(0xfc, 18), "sub-opcode"},
		{"unknown 0xfd", oneFunc(0xfd, 0x80, 0x02), "sub-opcode"},
		{"truncated immediate", oneFunc(0x41), "unexpected end"},
		{"overlong LEB", oneFunc(0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), "LEB128"},
		{"missing end", oneFunc(0x02, 0x40), "unexpected end"},
		{"bytes after end", oneFunc(opEnd, 0x01), "after the function's end"},
		{"names the kill global", oneFunc(0x41, 1, opGlobalSet, 0), "out of range"},
		{"reserved export", fixture(t, "taken"), KillExport},
		{"exports the kill index", module(section{secExport, append(appendName([]byte{1}, "g"), 3, 0)}), "out of range"},
		{"memory instruction, no memory", oneFunc(0x3f, 0x00, opDrop), "no memory"},
		{"calls the poll index", oneFunc(0x10, 1), "out of range"},
		{"bad block type", oneFunc(0x02, 0x7a, opEnd), "block type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Instrument(tt.wasm)
			if !errors.Is(err, ErrNotInstrumentable) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrNotInstrumentable mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLEB(t *testing.T) {
	tests := []struct {
		in   []byte
		bits int // 0: u32
		want int64
		err  bool
	}{
		{[]byte{0x00}, 0, 0, false},
		{[]byte{0xe5, 0x8e, 0x26}, 0, 624485, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 0, 1<<32 - 1, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x1f}, 0, 0, true}, // 33 bits
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, 0, true},
		{[]byte{0x80}, 0, 0, true}, // truncated
		{[]byte{0x7f}, 32, -1, false},
		{[]byte{0xc0, 0xbb, 0x78}, 32, -123456, false},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x78}, 32, -1 << 31, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x07}, 32, 1<<31 - 1, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 32, 0, true}, // 2^32-1 is not an s32
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x70}, 32, 0, true}, // 0x70: bit 3 differs from the sign
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 33, 1<<32 - 1, false},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x70}, 33, -1 << 32, false},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}, 64, -1 << 63, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}, 64, 1<<63 - 1, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 64, 0, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 64, 0, true},
	}
	for _, tt := range tests {
		r := &reader{b: tt.in}
		var got int64
		var err error
		if tt.bits == 0 {
			var u uint32
			u, err = r.u32()
			got = int64(u)
		} else {
			got, err = r.signed(tt.bits)
		}
		if (err != nil) != tt.err || (!tt.err && (got != tt.want || !r.eof())) {
			t.Errorf("% x (bits %d) = %d, %v; want %d, error %v", tt.in, tt.bits, got, err, tt.want, tt.err)
		}
	}
	for _, v := range []uint32{0, 1, 127, 128, 1<<14 - 1, 1 << 14, 1<<32 - 1} {
		r := &reader{b: appendU32(nil, v)}
		if got, err := r.u32(); err != nil || got != v || !r.eof() {
			t.Errorf("round trip of %d: %d, %v", v, got, err)
		}
	}
}

// TestNext checks the length the decoder gives each immediate shape.
func TestNext(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		len  int
	}{
		{"nop", []byte{0x01}, 1},
		{"block empty", []byte{0x02, 0x40}, 2},
		{"loop i32", []byte{0x03, 0x7f}, 2},
		{"if v128", []byte{0x04, 0x7b}, 2},
		{"block type index", []byte{0x02, 0x81, 0x01}, 3},
		{"br_table", []byte{0x0e, 0x02, 0x00, 0x81, 0x01, 0x02}, 6},
		{"call_indirect", []byte{0x11, 0x01, 0x00}, 3},
		{"return_call", []byte{0x12, 0x05}, 2},
		{"return_call_indirect", []byte{0x13, 0x01, 0x00}, 3},
		{"select t", []byte{0x1c, 0x01, 0x7e}, 3},
		{"global.get", []byte{0x23, 0x80, 0x01}, 3},
		{"table.set", []byte{0x26, 0x00}, 2},
		{"i64.store memarg", []byte{0x37, 0x03, 0xa0, 0x8d, 0x06}, 5},
		{"multi-memory memarg", []byte{0x28, 0x42, 0x01, 0x00}, 4},
		{"memory.grow", []byte{0x40, 0x00}, 2},
		{"i32.const", []byte{0x41, 0x80, 0x7f}, 3},
		{"i64.const", []byte{0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}, 11},
		{"f32.const", []byte{0x43, 0x03, 0x00, 0x00, 0x0b}, 5},
		{"f64.const", []byte{0x44, 0, 0, 0, 0, 0, 0, 0x03, 0x0b}, 9},
		{"i64.extend32_s", []byte{0xc4}, 1},
		{"ref.null", []byte{0xd0, 0x70}, 2},
		{"ref.func", []byte{0xd2, 0x03}, 2},
		{"i64.trunc_sat_f64_u", []byte{0xfc, 0x07}, 2},
		{"memory.init", []byte{0xfc, 0x08, 0x01, 0x00}, 4},
		{"memory.copy", []byte{0xfc, 0x0a, 0x00, 0x00}, 4},
		{"memory.fill", []byte{0xfc, 0x0b, 0x00}, 3},
		{"table.init", []byte{0xfc, 0x0c, 0x01, 0x00}, 4},
		{"table.fill", []byte{0xfc, 0x11, 0x00}, 3},
		{"v128.load", []byte{0xfd, 0x00, 0x04, 0x10}, 4},
		{"v128.const", append([]byte{0xfd, 0x0c}, make([]byte, 16)...), 18},
		{"i8x16.shuffle", append([]byte{0xfd, 0x0d}, make([]byte, 16)...), 18},
		{"i8x16.extract_lane_s", []byte{0xfd, 0x15, 0x0f}, 3},
		{"f64x2.replace_lane", []byte{0xfd, 0x22, 0x01}, 3},
		{"v128.any_true", []byte{0xfd, 0x53}, 2},
		{"v128.load8_lane", []byte{0xfd, 0x54, 0x00, 0x00, 0x0f}, 5},
		{"v128.store64_lane", []byte{0xfd, 0x5b, 0x03, 0x08, 0x01}, 5},
		{"v128.load64_zero", []byte{0xfd, 0x5d, 0x03, 0x00}, 4},
		{"i32x4.add (two-byte sub-opcode)", []byte{0xfd, 0xae, 0x01}, 3},
		{"f64x2.convert_low_i32x4_u", []byte{0xfd, 0xff, 0x01}, 3},
		{"memory.atomic.notify", []byte{0xfe, 0x00, 0x02, 0x00}, 4},
		{"atomic.fence", []byte{0xfe, 0x03, 0x00}, 3},
		{"i64.atomic.rmw32.cmpxchg_u", []byte{0xfe, 0x4e, 0x02, 0x00}, 4},
	}
	for _, tt := range tests {
		// A trailing byte proves the decoder stops where it should.
		r := &reader{b: append(slices.Clone(tt.in), 0x01)}
		in, err := r.next()
		if err != nil || in.end != tt.len || in.start != 0 {
			t.Errorf("%s: end %d, err %v; want %d", tt.name, in.end, err, tt.len)
		}
		// Every strict prefix is truncated.
		for n := 1; n < len(tt.in); n++ {
			if _, err := (&reader{b: tt.in[:n]}).next(); err == nil {
				t.Errorf("%s: prefix of %d bytes decoded", tt.name, n)
			}
		}
	}
}

// BenchmarkGuest measures what the checks cost guest code: a tight loop
// (sum) and call-heavy recursion (fib), original, instrumented, and
// original under wazero's WithCloseOnContextDone (what instrumentation
// replaces; it calls into Go at every loop iteration).
func BenchmarkGuest(b *testing.B) {
	orig := fixture(b, "control")
	res := mustInstrument(b, orig)
	for _, fn := range []struct {
		name string
		arg  uint64
	}{{"sum", 1_000_000}, {"fib", 25}} {
		for _, v := range []struct {
			name    string
			wasm    []byte
			context bool
		}{{"original", orig, false}, {"instrumented", res.Wasm, false}, {"context", orig, true}} {
			b.Run(fn.name+"/"+v.name, func(b *testing.B) {
				rt := newRuntime(b, v.context)
				f := instantiate(b, rt, v.wasm).ExportedFunction(fn.name)
				for b.Loop() {
					if _, err := f.Call(context.Background(), fn.arg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
