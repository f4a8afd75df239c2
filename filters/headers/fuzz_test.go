package headers

import (
	"strings"
	"testing"
)

// FuzzTemplate compiles arbitrary header values. A value that compiles
// must expand back to itself when every variable expands to its own
// ${name} spelling (with $${ read as a literal ${), and a value that does
// not compile must name a ${ problem; no input may panic.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"", "plain", "${route}", "a ${client_ip} b", "$${route}", "$$${route}", "${", "${nope}", "${}", "}${route}{"} {
		f.Add(s)
	}
	c := &compiled{vars: variables()}
	self := &httpContext{cfg: c}
	for i, v := range c.vars {
		self.vals[i] = "${" + v.name + "}"
		self.loaded |= 1 << i
	}
	f.Fuzz(func(t *testing.T, v string) {
		tmpl, err := c.compileTemplate(v)
		if err != nil {
			if !strings.Contains(err.Error(), "${") {
				t.Fatalf("%q: error %q does not point at a ${", v, err)
			}
			return
		}
		if got, want := self.expand(&tmpl), strings.ReplaceAll(v, "$${", "${"); got != want {
			t.Fatalf("%q expands to %q, want %q", v, got, want)
		}
	})
}

// FuzzParseConfig feeds arbitrary configurations to the parser: it must
// accept or reject them without panicking.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"request":{"set":{"x-a":"${route}"}}}`,
		`{"response":{"add":{"Set-Cookie":"a"},"remove":["x-b"]}}`, `{"request":{"set":{":path":"/"}}}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = parseConfig(data) })
}
