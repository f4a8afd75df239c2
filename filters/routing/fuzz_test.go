package routing

import (
	"strings"
	"testing"
)

// FuzzLookup routes arbitrary authorities and paths through a table with
// every kind of condition, and builds redirects and rewrites for them: no
// input may panic.
func FuzzLookup(f *testing.F) {
	t, err := parseConfig([]byte(`{"routes":[
{"name":"a","match":[{"hosts":["api.example.com","*.example.com"],"path_prefix":"/v1","query":[{"name":"q","regex":"^x"}]}],"to":[{"upstream":"u"}],"rewrite":{"path_prefix":"/"}},
{"name":"b","match":[{"path_regex":"^/i/[0-9]+$","headers":[{"name":"x","present":false}]}],"redirect":{"scheme":"https","path":"/j","status":301}},
{"name":"c","match":[{"path_prefix":"/"}],"redirect":{"prefix":"/new"}}]}`))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][2]string{{"api.example.com:80", "/v1/x?q=x"}, {"[::1]:8080", "/i/7"}, {"", ""}, {"A.EXAMPLE.COM.", "/v1?%zz"}, {"[", "?"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(tt *testing.T, authority, rawPath string) {
		path, query, hasQuery := strings.Cut(rawPath, "?")
		host, port := splitAuthority(authority)
		req := request{host: host, path: path, query: query}
		for _, es := range [][]*entry{t.anyHost, t.wildcard} {
			for _, e := range es {
				if e.m.pathKind == pathPrefix && !hasPathPrefix(path, e.m.path) {
					continue
				}
				if len(e.m.headers) > 0 {
					continue // needs a host header map
				}
				if !e.m.match(&req) {
					continue
				}
				if e.route.redirect != nil {
					location(e.route.redirect, e.m, "http", host, port, path, query, hasQuery)
				}
				if e.route.hasRewritePrefix {
					replacePrefix(path, e.m.path, e.route.rewritePrefix)
				}
			}
		}
	})
}

// FuzzParseConfig feeds arbitrary route tables to the parser: it must
// accept or reject them without panicking.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{`{"default_upstream":"u","routes":[{"name":"a","match":[{"hosts":["*.x.com"],"path_regex":"^/a","methods":["GET"],"headers":[{"name":"x","exact":"1"}],"query":[{"name":"q","present":true}]}],"to":[{"upstream":"u","weight":3},{"upstream":"v","weight":0}],"rewrite":{"host":"h"}}]}`,
		`{"routes":[{"name":"r","match":[{"path_prefix":"/old"}],"redirect":{"prefix":"/new","status":308}}]}`,
		`{"routes":[{"name":"d","respond":{"status":200,"body":"ok"}}]}`, `{"routes":[{"name":"b","match":[{"path_regex":"("}]}]}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if tab, err := parseConfig(data); err == nil && tab == nil {
			t.Fatalf("accepted %q without a table", data)
		}
	})
}
