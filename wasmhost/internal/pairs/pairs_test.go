package pairs

import (
	"bytes"
	"errors"
	"testing"
)

func encode(kv ...string) []byte {
	var e Encoder
	for i := 0; i+1 < len(kv); i += 2 {
		e.Add(kv[i], kv[i+1])
	}
	return e.Finish(nil)
}

func collect(t testing.TB, b []byte) ([]string, error) {
	t.Helper()
	var out []string
	err := Parse(b, func(k, v []byte) error {
		out = append(out, string(k), string(v))
		return nil
	})
	return out, err
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		kv   []string
	}{
		{"empty", nil},
		{"one", []string{":path", "/"}},
		{"empty value", []string{"x", ""}},
		{"repeated", []string{"set-cookie", "a=1", "set-cookie", "b=2", ":status", "200"}},
		{"binary", []string{"k\x00", "v\xff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encode(tt.kv...)
			var e Encoder
			for i := 0; i < len(tt.kv); i += 2 {
				e.Add(tt.kv[i], tt.kv[i+1])
			}
			if e.Len() != len(b) {
				t.Fatalf("Len = %d, want %d", e.Len(), len(b))
			}
			text := 0
			for _, s := range tt.kv {
				text += len(s)
			}
			if got := Size(len(tt.kv)/2, text); got != len(b) {
				t.Fatalf("Size = %d, want %d", got, len(b))
			}
			got, err := collect(t, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.kv) {
				t.Fatalf("got %q, want %q", got, tt.kv)
			}
			for i := range got {
				if got[i] != tt.kv[i] {
					t.Fatalf("got %q, want %q", got, tt.kv)
				}
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	good := encode("a", "b", "cc", "dd")
	tests := []struct {
		name string
		b    []byte
	}{
		{"short count", []byte{1, 0}},
		{"count without sizes", []byte{1, 0, 0, 0}},
		{"huge count", []byte{0xff, 0xff, 0xff, 0xff}},
		{"truncated text", good[:len(good)-1]},
		{"size overflow", append([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := collect(t, tt.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestParseStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := Parse(encode("a", "1", "b", "2"), func(k, v []byte) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err=%v n=%d", err, n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(encode(":method", "GET", ":path", "/x", "a", ""))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 'b', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Encoder
		err := Parse(b, func(k, v []byte) error {
			if !bytes.Equal(k, k) { // touch the memory
				t.Fatal("unreachable")
			}
			e.Add(string(k), string(v))
			return nil
		})
		if err != nil {
			return
		}
		// What parses must re-encode to something that parses to the same pairs.
		re := e.Finish(nil)
		var e2 Encoder
		if err := Parse(re, func(k, v []byte) error { e2.Add(string(k), string(v)); return nil }); err != nil {
			t.Fatalf("re-encoded map does not parse: %v", err)
		}
		if !bytes.Equal(e2.Finish(nil), re) {
			t.Fatal("round trip differs")
		}
	})
}
