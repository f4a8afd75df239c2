package policy

import (
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzValueText parses arbitrary text in OPA's value format (what the wasm
// engine reads back from its instances): no input may panic, and valid
// UTF-8 that parses writes back to text that parses to the same value
// (the writer turns invalid UTF-8 into U+FFFD on purpose).
func FuzzValueText(f *testing.F) {
	for _, s := range []string{`null`, `-1.5e3`, `"a\"b\u00e9"`, `[1, "x", [true], {"k": {"v"}}]`,
		`{1: "one", ["k"]: 2}`, `set()`, `{{"result": true}}`, `[1,`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		v, err := parseValueText(text)
		if err != nil || !utf8.Valid(text) {
			return
		}
		out, err := appendValueText(nil, v)
		if err != nil {
			t.Fatalf("%q parsed to %v, which does not write back: %v", text, v, err)
		}
		again, err := parseValueText(out)
		if err != nil || again.Compare(v) != 0 {
			t.Fatalf("%q: wrote %q, read back %v, %v; want %v", text, out, again, err, v)
		}
	})
}

// FuzzDecoderResult decodes arbitrary result sets: what the fast path
// decides must be what the general one decides.
func FuzzDecoderResult(f *testing.F) {
	for _, s := range []string{`{{"result": true}}`, `set()`,
		`{{"result": {"allow": false, "status": 451, "reason": "r", "body": "b", "headers": {"x-a": ["1", "2"], "X-B": "3"}}}}`,
		`{{"result": {"allow": "yes"}}}`, `{{"result": 1}, {"result": 2}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		var d decoder
		dec, err := d.result(text)
		var ref decoder
		want, wantErr := ref.general(text)
		if (err == nil) != (wantErr == nil) || err == nil && !reflect.DeepEqual(dec, want) {
			t.Fatalf("%q: %+v %v; the general path gives %+v %v", text, dec, err, want, wantErr)
		}
	})
}
