package policy

import (
	"net/netip"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/wasmgate/wasmgate/gateway/exchange"
)

func TestInputNeeds(t *testing.T) {
	tests := []struct {
		name, module, query string
		want                need
	}{
		{"fields", `package p
x if input.request.method == "GET"
y if input.consumer == input.claims.sub`, "data.p.x", needMethod | needConsumer | needClaims},
		{"whole request", `package p
x if count(input.request) > 0`, "data.p.x", needRequest},
		{"request with a variable key", `package p
x if { some k; input.request[k] }`, "data.p.x", needRequest},
		{"import", `package p
import input.source
x if source.port > 0`, "data.p.x", needSource},
		{"import of input", `package p
import input
x if input.a`, "data.p.x", needAll},
		{"whole input", `package p
x if count(input) > 0`, "data.p.x", needAll},
		{"variable key", `package p
x if { some k; input[k] }`, "data.p.x", needAll},
		{"in the query", `package p
x := 1`, "data.p.x; input.route", needRoute},
		{"passed to a function", `package p
f(v) := v.request.path
x := f(input)`, "data.p.x", needAll},
		{"inside another reference", `package p
x if data.routes[input.route][input.request.headers.host]`, "data.p.x", needRoute | needHeaders},
		{"input alone in the query", `package p
x := 1`, "input", needAll},
		{"nothing", `package p
x := true`, "data.p.x", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ast.MustParseModuleWithOpts(tt.module, ast.ParserOptions{RegoVersion: ast.RegoV1})
			q := ast.MustParseBody(tt.query)
			if got := inputNeeds(q, []*ast.Module{m}); got != tt.want {
				t.Errorf("needs %b, want %b", got, tt.want)
			}
		})
	}
}

// BenchmarkInputFull builds the whole input document from a typical
// exchange (8 headers, a query), as a policy reading `input` gets it.
func BenchmarkInputFull(b *testing.B) {
	s := &Stage{name: "t", keys: newKeys()}
	var x exchange.Exchange
	x.Request.SetMethod("GET")
	x.Request.SetScheme("http")
	x.Request.SetAuthority("api.example.com")
	x.Request.SetPath("/v1/items/42?expand=owner&page=2")
	x.Request.Protocol = exchange.HTTP11
	for _, h := range []string{"user-agent", "accept", "accept-encoding", "accept-language", "authorization", "x-request-id", "x-forwarded-for", "cookie"} {
		x.Request.Header.Add(h, "some value of typical length, 40 bytes.")
	}
	x.Source = netip.MustParseAddrPort("10.1.2.3:54321")
	x.Consumer = "bob"
	b.ReportAllocs()
	for b.Loop() {
		var ib inputBuilder
		if _, _, err := ib.build(s, &x, needAll); err != nil {
			b.Fatal(err)
		}
	}
}
