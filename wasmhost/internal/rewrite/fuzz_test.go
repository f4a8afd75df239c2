package rewrite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzRewrite feeds random and mutated modules to Instrument. It must
// never panic; a module wazero accepts must be instrumentable (unless it
// uses the reserved export name, or has data segments but no memory), and
// the result must be accepted too and pass checkInstrumented.
func FuzzRewrite(f *testing.F) {
	for _, dir := range []string{"testdata", filepath.Join("..", "..", "testdata")} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.wasm"))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add(oneFunc(0x03, 0x40, 0x0c, 0x00, opEnd)) // loop br 0
	f.Add(oneFunc(0xfd, 0x0c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, opDrop))
	f.Add(module())

	ctx := context.Background()
	// The interpreter validates like the compiler and compiles faster.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(features))
	f.Cleanup(func() { _ = rt.Close(ctx) })
	valid := func(wasm []byte) (err error) {
		if !plausible(wasm) {
			return errors.New("implausible")
		}
		defer func() {
			// wazero 1.12's validator panics on some invalid modules
			// (e.g. a function whose type index is out of range).
			if r := recover(); r != nil {
				err = fmt.Errorf("wazero panicked: %v", r)
			}
		}()
		m, err := rt.CompileModule(ctx, wasm)
		if err == nil {
			_ = m.Close(ctx)
		}
		return err
	}

	f.Fuzz(func(t *testing.T, wasm []byte) {
		orig := append([]byte(nil), wasm...)
		res, err := Instrument(wasm)
		if string(orig) != string(wasm) {
			t.Fatal("Instrument modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrNotInstrumentable) {
				t.Fatalf("error %v does not wrap ErrNotInstrumentable", err)
			}
			if valid(wasm) == nil && !strings.Contains(err.Error(), KillExport) &&
				!strings.Contains(err.Error(), "no memory") {
				t.Fatalf("valid module not instrumentable: %v", err)
			}
			return
		}
		if !plausible(wasm) || valid(wasm) != nil {
			return
		}
		if err := valid(res.Wasm); err != nil {
			t.Fatalf("instrumented module invalid: %v", err)
		}
		checkInstrumented(t, wasm, res)
	})
}

// plausible screens out modules that would make wazero's decoder allocate
// without bound (a vector count far beyond the section's size, millions of
// locals): those exhaust the fuzzer's memory, and are rejected by
// Instrument's callers' validation anyway.
func plausible(wasm []byte) bool {
	r := &reader{b: wasm, pos: len(header)}
	if len(wasm) < len(header) {
		return false
	}
	for !r.eof() {
		id, _ := r.byte()
		n, err := r.u32()
		if err != nil {
			return false
		}
		body, err := r.bytes(int(n))
		if err != nil {
			return false
		}
		if id == secCustom || id == secStart {
			continue
		}
		sr := &reader{b: body}
		count, err := sr.u32()
		if err != nil || int(count) > len(body) {
			return false
		}
		if id == secType {
			// Parameter and result counts.
			for !sr.eof() {
				if c, _ := sr.byte(); c == 0x60 {
					if k, err := sr.u32(); err != nil || int(k) > len(body) {
						return false
					}
				}
			}
		}
		if id != secCode {
			continue
		}
		for range count {
			size, err := sr.u32()
			if err != nil {
				return false
			}
			code, err := sr.bytes(int(size))
			if err != nil {
				return false
			}
			fr := &reader{b: code}
			groups, err := fr.u32()
			if err != nil || int(groups) > len(code) {
				return false
			}
			total := 0
			for range groups {
				k, err := fr.u32()
				if err != nil {
					return false
				}
				if total += int(k); total > 1<<12 {
					return false
				}
				_, _ = fr.byte()
			}
		}
	}
	return true
}

// FuzzDefineMemory rewrites arbitrary bytes: no input may panic, and an
// accepted one keeps the header and imports nothing called env.memory.
func FuzzDefineMemory(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x02\x1e\x02\x03env\x06memory\x02\x00\x02\x03env\x08opa_noop\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x10\x01\x03env\x06memory\x02\x01\x03\x09\x07\x0a\x01\x06memory\x02\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x10\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := DefineMemory(in, "env", "memory", 100)
		if err != nil {
			return
		}
		if string(out[:len(header)]) != string(header) {
			t.Fatalf("accepted % x, wrote % x", in, out)
		}
		if _, err := DefineMemory(out, "env", "memory", 100); err == nil {
			t.Fatalf("the output of % x still has the import: % x", in, out)
		}
	})
}
