package jsontext

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"a\"b\\c", `"a\"b\\c"`},
		{"\n\r\t\x01\x1f", `"\n\r\t\u0001\u001f"`},
		{"é😀", `"é😀"`},
		{"a\xffb", `"a\ufffdb"`},
		{"\xe2\x82", `"\ufffd\ufffd"`},
	} {
		if got := string(AppendString([]byte("x"), tc.in)); got != "x"+tc.want {
			t.Errorf("%q: %s, want x%s", tc.in, got, tc.want)
		}
		if got := string(AppendBytes(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("bytes %q: %s, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzAppendString: the output is always a JSON string, and it decodes to
// the input with each invalid byte replaced by U+FFFD.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00\xff", "é\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q wrote %s, not JSON: %v", s, out, err)
		}
		var want strings.Builder // s with each invalid byte as U+FFFD
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			want.WriteRune(r) // utf8.RuneError is U+FFFD
			i += size
		}
		if back != want.String() {
			t.Fatalf("%q wrote %s, which reads back as %q, want %q", s, out, back, want.String())
		}
	})
}
