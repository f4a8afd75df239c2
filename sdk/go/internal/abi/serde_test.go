package abi

import (
	"bytes"
	"slices"
	"testing"
)

func TestPairsRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		pairs [][2]string
	}{
		{"empty", nil},
		{"one", [][2]string{{":path", "/"}}},
		{"empty strings", [][2]string{{"", ""}, {"a", ""}, {"", "b"}}},
		{"repeated", [][2]string{{"set-cookie", "a=1"}, {"set-cookie", "b=2"}}},
		{"binary", [][2]string{{"k", "v\x00w\xff"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendPairs(nil, tt.pairs)
			if len(b) != PairsSize(tt.pairs) {
				t.Fatalf("size %d, PairsSize %d", len(b), PairsSize(tt.pairs))
			}
			got, err := DecodePairs(b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.pairs) && !(len(got) == 0 && len(tt.pairs) == 0) {
				t.Fatalf("got %q, want %q", got, tt.pairs)
			}
		})
	}
}

func TestDecodePairsWire(t *testing.T) {
	wire := []byte{
		2, 0, 0, 0, // count
		1, 0, 0, 0, 2, 0, 0, 0, // "a" -> "bc"
		0, 0, 0, 0, 1, 0, 0, 0, // "" -> "d"
		'a', 0, 'b', 'c', 0, 0, 'd', 0,
	}
	got, err := DecodePairs(wire)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]string{{"a", "bc"}, {"", "d"}}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if enc := AppendPairs(nil, got); !bytes.Equal(enc, wire) {
		t.Fatalf("re-encoded %v", enc)
	}
}

func TestDecodePairsMalformed(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"short count", []byte{1, 0}},
		{"count too large", []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}},
		{"size past end", []byte{1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 'a', 0}},
		{"missing nul", []byte{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'a', 'x', 0}},
		{"huge size", []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodePairs(tt.b); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestAppendPath(t *testing.T) {
	tests := []struct {
		path []string
		want string
	}{
		{nil, ""},
		{[]string{"plugin_name"}, "plugin_name"},
		{[]string{"request", "path"}, "request\x00path"},
		{[]string{"wasmgate", "upstream"}, "wasmgate\x00upstream"},
	}
	for _, tt := range tests {
		if got := string(AppendPath(nil, tt.path)); got != tt.want {
			t.Errorf("AppendPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func FuzzDecodePairs(f *testing.F) {
	f.Add([]byte{})
	f.Add(AppendPairs(nil, [][2]string{{"a", "b"}, {"", ""}}))
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'a', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := DecodePairs(b)
		if err != nil {
			return
		}
		again, err := DecodePairs(AppendPairs(nil, pairs))
		if err != nil || len(again) != len(pairs) {
			t.Fatalf("round trip: %v %d != %d", err, len(again), len(pairs))
		}
	})
}
