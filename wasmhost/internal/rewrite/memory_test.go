package rewrite

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

func TestDefineMemory(t *testing.T) {
	const hdr = "\x00asm\x01\x00\x00\x00"
	tests := []struct {
		name     string
		in       string
		maxPages uint32
		want     string // the output, or "" when it must fail
		err      string // then: what the error says
	}{
		{
			name: "function import kept, custom section kept, memory at the end",
			in: hdr +
				"\x01\x04\x01\x60\x00\x00" + // type section: () -> ()
				"\x02\x1e\x02\x03env\x06memory\x02\x00\x02\x03env\x08opa_noop\x00\x00" +
				"\x00\x04\x01\x61\x01\x62", // a custom section
			maxPages: 100,
			want: hdr +
				"\x01\x04\x01\x60\x00\x00" +
				"\x02\x10\x01\x03env\x08opa_noop\x00\x00" +
				"\x00\x04\x01\x61\x01\x62" +
				"\x05\x04\x01\x01\x02\x64", // memory section: min 2, max 100
		},
		{
			name:     "memory before the export section, maximum raised to the minimum",
			in:       hdr + "\x02\x10\x01\x03env\x06memory\x02\x01\x03\x09" + "\x07\x0a\x01\x06memory\x02\x00",
			maxPages: 1,
			want:     hdr + "\x02\x01\x00" + "\x05\x04\x01\x01\x03\x03" + "\x07\x0a\x01\x06memory\x02\x00",
		},
		{name: "no header", in: "\x00asn\x01\x00\x00\x00", err: "not a wasm"},
		{name: "truncated", in: hdr + "\x02\x10\x01", err: "unexpected end"},
		{name: "no memory import", in: hdr + "\x01\x04\x01\x60\x00\x00", err: "no such import"},
		{name: "another memory import", in: hdr + "\x02\x0c\x01\x03env\x03mem\x02\x00\x02", err: "another memory import env.mem"},
		{name: "shared memory", in: hdr + "\x02\x10\x01\x03env\x06memory\x02\x03\x02\x02", err: "shared"},
		{name: "a defined memory too", in: hdr + "\x02\x0f\x01\x03env\x06memory\x02\x00\x02" + "\x05\x03\x01\x00\x01", err: "defines a memory"},
		{name: "unknown section", in: hdr + "\x02\x0f\x01\x03env\x06memory\x02\x00\x02" + "\x0e\x00", err: "unsupported section id 14"},
		{name: "over-long LEB128 size", in: hdr + "\x02\x8e\x80\x80\x80\x80\x00", err: "LEB128"},
		{name: "trailing bytes in imports", in: hdr + "\x02\x10\x01\x03env\x06memory\x02\x00\x02\x00", err: "trailing bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			out, err := DefineMemory(in, "env", "memory", tt.maxPages)
			if tt.want == "" {
				if err == nil || !errors.Is(err, ErrMemoryImport) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got % x, %v; want an error wrapping ErrMemoryImport that says %q", out, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("rewritten:\n% x\nwant\n% x", out, tt.want)
			}
			if string(in) != tt.in {
				t.Error("the input was modified")
			}
		})
	}
}

// TestDefineMemoryInstantiates runs the result on wazero: the module
// needs no memory from outside any more, and its exported memory is the
// defined one with the import's minimum and the given maximum.
func TestDefineMemoryInstantiates(t *testing.T) {
	in := []byte("\x00asm\x01\x00\x00\x00" +
		"\x02\x0f\x01\x03env\x06memory\x02\x00\x02" + // import env.memory, min 2
		"\x07\x0a\x01\x06memory\x02\x00") // export it as "memory"
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if _, err := rt.Instantiate(ctx, in); err == nil {
		t.Fatal("the module with its memory import instantiated without an env module")
	}
	out, err := DefineMemory(in, "env", "memory", 40)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	mem := mod.ExportedMemory("memory")
	if mem == nil {
		t.Fatal("no exported memory")
	}
	if got := mem.Size(); got != 2*65536 {
		t.Errorf("size %d bytes, want 2 pages", got)
	}
	if max, ok := mem.Definition().Max(); !ok || max != 40 {
		t.Errorf("maximum %d (%v), want 40 pages", max, ok)
	}
	if _, ok := mem.Grow(39); ok {
		t.Error("grew past the maximum")
	}
}
