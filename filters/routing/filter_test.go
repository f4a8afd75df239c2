package routing

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm/proxywasmtest"
)

// result is what the filter did with one request.
type result struct {
	action   proxywasm.Action
	status   int    // local response status, 0 if none
	location string // local response Location
	body     string // local response body
	route    string // wasmgate.route
	upstream string // wasmgate.upstream
	mirror   string // wasmgate.mirror
	path     string // :path after the filter
	host     string // :authority after the filter
}

// req is a test request: "GET http://host/path?query" plus extra headers.
type req struct {
	method, scheme, host, path string
	headers                    [][2]string
}

func get(host, path string, headers ...[2]string) req {
	return req{method: "GET", scheme: "http", host: host, path: path, headers: headers}
}

// start configures a fake host with config (JSON) and fails the test if
// the configuration is rejected.
func start(t testing.TB, config string) *proxywasmtest.Host {
	t.Helper()
	h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{PluginConfig: []byte(config)})
	if !h.Start() {
		t.Fatalf("configuration rejected: %v", h.LogMessages(proxywasm.LevelError))
	}
	return h
}

// do sends r through the filter.
func do(h *proxywasmtest.Host, r req) result {
	s := h.NewStream()
	hdrs := append([][2]string{{":method", r.method}, {":scheme", r.scheme}, {":authority", r.host}, {":path", r.path}}, r.headers...)
	var res result
	res.action = s.CallOnRequestHeaders(hdrs, true)
	if lr, ok := s.LocalResponse(); ok {
		res.status, res.body = lr.Status, string(lr.Body)
		for _, kv := range lr.Headers {
			if kv[0] == "location" {
				res.location = kv[1]
			}
		}
	}
	res.route, _ = s.Property("wasmgate.route")
	res.upstream, _ = s.Property("wasmgate.upstream")
	res.mirror, _ = s.Property("wasmgate.mirror")
	res.path, _ = s.RequestHeader(":path")
	res.host, _ = s.RequestHeader(":authority")
	s.Complete()
	return res
}

// routes builds a configuration whose routes each forward to the upstream
// named like the route.
func routes(defaultUpstream string, rs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"default_upstream":%q,"routes":[`, defaultUpstream)
	for i, r := range rs {
		name, match, _ := strings.Cut(r, "=")
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":%q,"match":[%s],"to":[{"upstream":%q}]}`, name, match, name)
	}
	b.WriteString("]}")
	return b.String()
}

// TestMatching checks which route takes a request.
func TestMatching(t *testing.T) {
	tests := []struct {
		name   string
		config string
		req    req
		route  string // "" for no route (404)
	}{
		// hosts
		{"exact host", routes("", `a={"hosts":["api.example.com"]}`), get("api.example.com", "/"), "a"},
		{"host case and port", routes("", `a={"hosts":["api.example.com"]}`), get("API.Example.com:8080", "/"), "a"},
		{"host trailing dot", routes("", `a={"hosts":["api.example.com"]}`), get("api.example.com.", "/"), "a"},
		{"other host", routes("", `a={"hosts":["api.example.com"]}`), get("www.example.com", "/"), ""},
		{"wildcard", routes("", `a={"hosts":["*.example.com"]}`), get("x.example.com", "/"), "a"},
		{"wildcard deep", routes("", `a={"hosts":["*.example.com"]}`), get("x.y.example.com", "/"), "a"},
		{"wildcard not apex", routes("", `a={"hosts":["*.example.com"]}`), get("example.com", "/"), ""},
		{"wildcard not suffix of label", routes("", `a={"hosts":["*.example.com"]}`), get("xexample.com", "/"), ""},
		{"longest wildcard", routes("", `short={"hosts":["*.example.com"]}`, `long={"hosts":["*.api.example.com"]}`), get("v1.api.example.com", "/"), "long"},
		{"exact host beats wildcard", routes("", `w={"hosts":["*.example.com"]}`, `e={"hosts":["api.example.com"]}`), get("api.example.com", "/"), "e"},
		{"host-specific beats host-less exact path", routes("", `any={"path":"/x"}`, `h={"hosts":["a.test"],"path_regex":"^/"}`), get("a.test", "/x"), "h"},
		{"host-less when host routes fail", routes("", `h={"hosts":["a.test"],"path":"/y"}`, `any={"path":"/x"}`), get("a.test", "/x"), "any"},
		{"ipv6 authority", routes("", `a={"hosts":["[::1]"]}`), get("[::1]:8080", "/"), "a"},
		{"several hosts", routes("", `a={"hosts":["a.test","b.test"]}`), get("b.test", "/"), "a"},

		// paths
		{"exact path", routes("", `a={"path":"/login"}`), get("h", "/login?next=/"), "a"},
		{"exact path only", routes("", `a={"path":"/login"}`), get("h", "/login/x"), ""},
		{"prefix itself", routes("", `a={"path_prefix":"/v1"}`), get("h", "/v1"), "a"},
		{"prefix segment", routes("", `a={"path_prefix":"/v1"}`), get("h", "/v1/users"), "a"},
		{"prefix not partial segment", routes("", `a={"path_prefix":"/v1"}`), get("h", "/v10"), ""},
		{"prefix with query", routes("", `a={"path_prefix":"/v1"}`), get("h", "/v1?x=1"), "a"},
		{"prefix trailing slash", routes("", `a={"path_prefix":"/v1/"}`), get("h", "/v1"), "a"},
		{"root prefix", routes("", `a={"path_prefix":"/"}`), get("h", "/anything"), "a"},
		{"regex", routes("", `a={"path_regex":"^/v[0-9]+/items$"}`), get("h", "/v2/items"), "a"},
		{"regex ignores query", routes("", `a={"path_regex":"^/v[0-9]+/items$"}`), get("h", "/v2/items?a=b"), "a"},
		{"regex no match", routes("", `a={"path_regex":"^/v[0-9]+/items$"}`), get("h", "/v2/items/3"), ""},
		{"exact beats prefix", routes("", `p={"path_prefix":"/a"}`, `e={"path":"/a/b"}`), get("h", "/a/b"), "e"},
		{"prefix beats regex", routes("", `r={"path_regex":"^/a"}`, `p={"path_prefix":"/a"}`), get("h", "/a/b"), "p"},
		{"longest prefix", routes("", `short={"path_prefix":"/a"}`, `long={"path_prefix":"/a/b"}`, `mid={"path_prefix":"/a/b/c/d"}`), get("h", "/a/b/c"), "long"},
		{"regexes in file order", routes("", `r1={"path_regex":"b"}`, `r2={"path_regex":"^/a"}`), get("h", "/a/b"), "r1"},
		{"regex beats no path", routes("", `any={}`, `r={"path_regex":"^/a"}`), get("h", "/a"), "r"},
		{"no path matches all", routes("", `any={}`), get("h", "/whatever"), "any"},
		{"no match block matches all", `{"routes":[{"name":"all","to":[{"upstream":"all"}]}]}`, get("h", "/"), "all"},

		// methods
		{"method", routes("", `a={"methods":["GET","POST"]}`), get("h", "/"), "a"},
		{"method mismatch", routes("", `a={"methods":["POST"]}`), get("h", "/"), ""},

		// headers
		{"header exact", routes("", `a={"headers":[{"name":"X-Env","exact":"canary"}]}`), get("h", "/", [2]string{"x-env", "canary"}), "a"},
		{"header exact mismatch", routes("", `a={"headers":[{"name":"x-env","exact":"canary"}]}`), get("h", "/", [2]string{"x-env", "prod"}), ""},
		{"header regex", routes("", `a={"headers":[{"name":"user-agent","regex":"(?i)curl"}]}`), get("h", "/", [2]string{"user-agent", "Curl/8"}), "a"},
		{"header present", routes("", `a={"headers":[{"name":"x-debug","present":true}]}`), get("h", "/", [2]string{"x-debug", ""}), "a"},
		{"header missing", routes("", `a={"headers":[{"name":"x-debug","present":true}]}`), get("h", "/"), ""},
		{"header absent", routes("", `a={"headers":[{"name":"x-debug","present":false}]}`), get("h", "/"), "a"},
		{"header absent but there", routes("", `a={"headers":[{"name":"x-debug","present":false}]}`), get("h", "/", [2]string{"x-debug", "1"}), ""},

		// query
		{"query exact", routes("", `a={"query":[{"name":"v","exact":"2"}]}`), get("h", "/?a=1&v=2"), "a"},
		{"query decoded", routes("", `a={"query":[{"name":"q","exact":"a b/c"}]}`), get("h", "/?q=a+b%2Fc"), "a"},
		{"query encoded name", routes("", `a={"query":[{"name":"a b","exact":"1"}]}`), get("h", "/?a%20b=1"), "a"},
		{"query regex", routes("", `a={"query":[{"name":"id","regex":"^[0-9]+$"}]}`), get("h", "/?id=42"), "a"},
		{"query regex mismatch", routes("", `a={"query":[{"name":"id","regex":"^[0-9]+$"}]}`), get("h", "/?id=x"), ""},
		{"query present no value", routes("", `a={"query":[{"name":"debug","present":true}]}`), get("h", "/?debug"), "a"},
		{"query missing", routes("", `a={"query":[{"name":"debug","present":true}]}`), get("h", "/"), ""},

		// AND within a match, OR across matches
		{"and all hold", routes("", `a={"path_prefix":"/api","methods":["GET"],"headers":[{"name":"x","exact":"1"}]}`), get("h", "/api/x", [2]string{"x", "1"}), "a"},
		{"and one fails", routes("", `a={"path_prefix":"/api","methods":["GET"],"headers":[{"name":"x","exact":"1"}]}`), get("h", "/api/x", [2]string{"x", "2"}), ""},
		{"or second", routes("", `a={"path":"/one"},{"path":"/two"}`), get("h", "/two"), "a"},
		{"or precedence per match", routes("", `r={"path_regex":"^/a"},{"path":"/zzz"}`, `p={"path_prefix":"/a"}`), get("h", "/a"), "p"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.config)
			res := do(h, tc.req)
			if res.route != tc.route {
				t.Fatalf("route = %q, want %q (result %+v)", res.route, tc.route, res)
			}
			if tc.route == "" {
				if res.status != 404 || res.action != proxywasm.Pause {
					t.Fatalf("no route: status %d action %d, want 404 Pause", res.status, res.action)
				}
				return
			}
			if res.upstream != tc.route || res.action != proxywasm.Continue || res.status != 0 {
				t.Fatalf("result %+v, want upstream %q and Continue", res, tc.route)
			}
		})
	}
}

// TestDefaultUpstream: without a matching route, the listener's default
// upstream takes the request and no route is set.
func TestDefaultUpstream(t *testing.T) {
	h := start(t, routes("fallback", `a={"path":"/a"}`))
	res := do(h, get("h", "/other"))
	if res.action != proxywasm.Continue || res.upstream != "fallback" || res.route != "" || res.status != 0 {
		t.Fatalf("result %+v", res)
	}
}

// TestWeightedSplit checks the smooth weighted round robin of a split,
// weight 0 and the 503 when every weight is 0.
func TestWeightedSplit(t *testing.T) {
	tests := []struct {
		name string
		to   string
		want string // upstreams picked by 7 requests, "-" for a 503
	}{
		{"5,1,1", `{"upstream":"a","weight":5},{"upstream":"b","weight":1},{"upstream":"c","weight":1}`, "a a b a c a a"},
		{"90,10", `{"upstream":"api","weight":90},{"upstream":"canary","weight":10}`, "api api api api api canary api"},
		{"equal default weights", `{"upstream":"a"},{"upstream":"b"}`, "a b a b a b a"},
		{"weight 0 gets nothing", `{"upstream":"a","weight":0},{"upstream":"b","weight":3}`, "b b b b b b b"},
		{"all 0", `{"upstream":"a","weight":0},{"upstream":"b","weight":0}`, "- - - - - - -"},
		{"single 0", `{"upstream":"a","weight":0}`, "- - - - - - -"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, `{"routes":[{"name":"r","to":[`+tc.to+`]}]}`)
			var got []string
			for range 7 {
				res := do(h, get("h", "/"))
				switch {
				case res.status == 503 && res.action == proxywasm.Pause && res.upstream == "":
					got = append(got, "-")
				case res.status == 0:
					got = append(got, res.upstream)
				default:
					t.Fatalf("result %+v", res)
				}
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Fatalf("picked %q, want %q", g, tc.want)
			}
		})
	}
	t.Run("90,10 over 100", func(t *testing.T) {
		h := start(t, `{"routes":[{"name":"r","to":[{"upstream":"api","weight":90},{"upstream":"canary","weight":10}]}]}`)
		n := map[string]int{}
		for range 100 {
			n[do(h, get("h", "/")).upstream]++
		}
		if n["api"] != 90 || n["canary"] != 10 {
			t.Fatalf("counts %v", n)
		}
	})
}

// TestRedirect checks how a Location is built.
func TestRedirect(t *testing.T) {
	tests := []struct {
		name     string
		redirect string
		match    string
		req      req
		status   int
		location string
	}{
		{"https keeps path and query", `{"scheme":"https","status":301}`, `{}`, get("example.com:8080", "/a?b=1"), 301, "https://example.com/a?b=1"},
		{"default status 302", `{"host":"new.example.com"}`, `{}`, get("example.com:8080", "/a"), 302, "http://new.example.com:8080/a"},
		{"well-known port left out", `{"port":80}`, `{}`, get("example.com:8080", "/"), 302, "http://example.com/"},
		{"https 443 left out", `{"scheme":"https","port":443}`, `{}`, get("example.com", "/"), 302, "https://example.com/"},
		{"request port 80 left out", `{"path":"/x"}`, `{}`, get("example.com:80", "/a"), 302, "http://example.com/x"},
		{"explicit port", `{"scheme":"https","port":8443,"status":308}`, `{}`, get("example.com", "/a"), 308, "https://example.com:8443/a"},
		{"set scheme equal to the request's still implies its port", `{"scheme":"https"}`, `{}`, req{method: "GET", scheme: "https", host: "example.com:8443", path: "/a"}, 302, "https://example.com/a"},
		{"path replaces path", `{"path":"/new","status":307}`, `{}`, get("h", "/old/x?q=1"), 307, "http://h/new?q=1"},
		{"strip query", `{"path":"/new","strip_query":true,"status":303}`, `{}`, get("h", "/old?q=1"), 303, "http://h/new"},
		{"prefix replaced", `{"prefix":"/v2"}`, `{"path_prefix":"/v1"}`, get("h", "/v1/users?id=1"), 302, "http://h/v2/users?id=1"},
		{"prefix to root", `{"prefix":"/"}`, `{"path_prefix":"/old"}`, get("h", "/old/a"), 302, "http://h/a"},
		{"prefix exact", `{"prefix":"/new"}`, `{"path_prefix":"/old"}`, get("h", "/old"), 302, "http://h/new"},
		{"ipv6 host", `{"port":9000}`, `{}`, get("[::1]:8080", "/"), 302, "http://[::1]:9000/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, `{"routes":[{"name":"r","match":[`+tc.match+`],"redirect":`+tc.redirect+`}]}`)
			res := do(h, tc.req)
			if res.action != proxywasm.Pause || res.status != tc.status || res.location != tc.location || res.route != "r" || res.upstream != "" {
				t.Fatalf("result %+v, want %d %s", res, tc.status, tc.location)
			}
		})
	}
}

// TestRespond checks direct responses.
func TestRespond(t *testing.T) {
	h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{PluginConfig: []byte(
		`{"routes":[{"name":"health","match":[{"path":"/healthz"}],"respond":{"status":200,"body":"ok\n","headers":{"Content-Type":"text/plain"}}}]}`)})
	if !h.Start() {
		t.Fatal("rejected")
	}
	s := h.NewStream()
	if act := s.CallOnRequestHeaders([][2]string{{":method", "GET"}, {":authority", "h"}, {":path", "/healthz"}}, true); act != proxywasm.Pause {
		t.Fatalf("action %d", act)
	}
	lr, ok := s.LocalResponse()
	if !ok || lr.Status != 200 || string(lr.Body) != "ok\n" || len(lr.Headers) != 1 || lr.Headers[0] != [2]string{"content-type", "text/plain"} {
		t.Fatalf("local response %+v", lr)
	}
	if r, _ := s.Property("wasmgate.route"); r != "health" {
		t.Fatalf("route %q", r)
	}
}

// TestRewrite checks path and host rewrites.
func TestRewrite(t *testing.T) {
	tests := []struct {
		name, match, rewrite string
		req                  req
		path, host           string
	}{
		{"strip prefix to root", `{"path_prefix":"/api"}`, `{"path_prefix":"/"}`, get("h", "/api"), "/", "h"},
		{"strip prefix", `{"path_prefix":"/api"}`, `{"path_prefix":"/"}`, get("h", "/api/users?x=1"), "/users?x=1", "h"},
		{"strip prefix with trailing slash", `{"path_prefix":"/api/"}`, `{"path_prefix":"/"}`, get("h", "/api/users"), "/users", "h"},
		{"replace prefix", `{"path_prefix":"/v1"}`, `{"path_prefix":"/internal/v1"}`, get("h", "/v1/a/b"), "/internal/v1/a/b", "h"},
		{"replace root prefix", `{"path_prefix":"/"}`, `{"path_prefix":"/base"}`, get("h", "/a"), "/base/a", "h"},
		{"full path", `{"path":"/old"}`, `{"path":"/new"}`, get("h", "/old?q=1"), "/new?q=1", "h"},
		{"host", `{}`, `{"host":"backend.internal"}`, get("public.example.com", "/x"), "/x", "backend.internal"},
		{"path and host", `{"path_prefix":"/app"}`, `{"path_prefix":"/","host":"app.internal"}`, get("h", "/app/x"), "/x", "app.internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, `{"routes":[{"name":"r","match":[`+tc.match+`],"to":[{"upstream":"u"}],"rewrite":`+tc.rewrite+`}]}`)
			res := do(h, tc.req)
			if res.action != proxywasm.Continue || res.upstream != "u" || res.path != tc.path || res.host != tc.host {
				t.Fatalf("result %+v, want path %q host %q", res, tc.path, tc.host)
			}
		})
	}
}

// TestMirror: the mirror property is set on exactly percent of requests.
func TestMirror(t *testing.T) {
	for _, pct := range []int{0, 10, 25, 100} {
		t.Run(fmt.Sprint(pct), func(t *testing.T) {
			h := start(t, fmt.Sprintf(`{"routes":[{"name":"r","to":[{"upstream":"u"}],"mirror":{"upstream":"shadow","percent":%d}}]}`, pct))
			n := 0
			for range 200 {
				res := do(h, get("h", "/"))
				switch res.mirror {
				case "shadow":
					n++
				case "":
				default:
					t.Fatalf("mirror %q", res.mirror)
				}
			}
			if n != 2*pct {
				t.Fatalf("mirrored %d of 200, want %d", n, 2*pct)
			}
		})
	}
}

// TestOverrides checks the timeout and retry properties.
func TestOverrides(t *testing.T) {
	h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{PluginConfig: []byte(
		`{"routes":[{"name":"slow","match":[{"path_prefix":"/slow"}],"to":[{"upstream":"u"}],"timeout":"1m30s","retry_attempts":0},` +
			`{"name":"plain","to":[{"upstream":"u"}]}]}`)})
	if !h.Start() {
		t.Fatal("rejected")
	}
	s := h.NewStream()
	s.CallOnRequestHeaders([][2]string{{":method", "GET"}, {":authority", "h"}, {":path", "/slow"}}, true)
	if v, _ := s.Property("wasmgate.timeout"); v != "1m30s" {
		t.Fatalf("timeout %q", v)
	}
	if v, _ := s.Property("wasmgate.retry_attempts"); v != "0" {
		t.Fatalf("retry %q", v)
	}
	s2 := h.NewStream()
	s2.CallOnRequestHeaders([][2]string{{":method", "GET"}, {":authority", "h"}, {":path", "/"}}, true)
	if _, ok := s2.Property("wasmgate.timeout"); ok {
		t.Fatal("timeout set on a route without one")
	}
	if _, ok := s2.Property("wasmgate.retry_attempts"); ok {
		t.Fatal("retry set on a route without one")
	}
}

// TestBadConfig: every invalid configuration is rejected with a log line.
func TestBadConfig(t *testing.T) {
	tests := []struct{ name, config string }{
		{"not json", `{`},
		{"unknown field", `{"routes":[],"bogus":1}`},
		{"unnamed route", `{"routes":[{"to":[{"upstream":"u"}]}]}`},
		{"duplicate name", `{"routes":[{"name":"a","to":[{"upstream":"u"}]},{"name":"a","to":[{"upstream":"u"}]}]}`},
		{"no action", `{"routes":[{"name":"a"}]}`},
		{"two actions", `{"routes":[{"name":"a","to":[{"upstream":"u"}],"respond":{"status":200}}]}`},
		{"bad path regex", `{"routes":[{"name":"a","match":[{"path_regex":"("}],"to":[{"upstream":"u"}]}]}`},
		{"bad header regex", `{"routes":[{"name":"a","match":[{"headers":[{"name":"x","regex":"[a"}]}],"to":[{"upstream":"u"}]}]}`},
		{"two path kinds", `{"routes":[{"name":"a","match":[{"path":"/a","path_prefix":"/a"}],"to":[{"upstream":"u"}]}]}`},
		{"relative path", `{"routes":[{"name":"a","match":[{"path_prefix":"a"}],"to":[{"upstream":"u"}]}]}`},
		{"lower-case method", `{"routes":[{"name":"a","match":[{"methods":["get"]}],"to":[{"upstream":"u"}]}]}`},
		{"header two tests", `{"routes":[{"name":"a","match":[{"headers":[{"name":"x","exact":"1","present":true}]}],"to":[{"upstream":"u"}]}]}`},
		{"header no test", `{"routes":[{"name":"a","match":[{"headers":[{"name":"x"}]}],"to":[{"upstream":"u"}]}]}`},
		{"bad wildcard", `{"routes":[{"name":"a","match":[{"hosts":["a.*.com"]}],"to":[{"upstream":"u"}]}]}`},
		{"negative weight", `{"routes":[{"name":"a","to":[{"upstream":"u","weight":-1}]}]}`},
		{"redirect status", `{"routes":[{"name":"a","redirect":{"status":200}}]}`},
		{"redirect scheme", `{"routes":[{"name":"a","redirect":{"scheme":"ftp"}}]}`},
		{"redirect prefix without prefix match", `{"routes":[{"name":"a","match":[{"path":"/x"}],"redirect":{"prefix":"/y"}}]}`},
		{"rewrite prefix without match", `{"routes":[{"name":"a","to":[{"upstream":"u"}],"rewrite":{"path_prefix":"/"}}]}`},
		{"rewrite on redirect", `{"routes":[{"name":"a","redirect":{"host":"x"},"rewrite":{"host":"y"}}]}`},
		{"mirror percent", `{"routes":[{"name":"a","to":[{"upstream":"u"}],"mirror":{"upstream":"m","percent":101}}]}`},
		{"bad timeout", `{"routes":[{"name":"a","to":[{"upstream":"u"}],"timeout":"soon"}]}`},
		{"retry range", `{"routes":[{"name":"a","to":[{"upstream":"u"}],"retry_attempts":9}]}`},
		{"respond status", `{"routes":[{"name":"a","respond":{"status":99}}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{PluginConfig: []byte(tc.config)})
			if h.Start() {
				t.Fatal("configuration accepted")
			}
			if len(h.LogMessages(proxywasm.LevelError)) == 0 {
				t.Fatal("no error logged")
			}
		})
	}
}

// TestReconfigureKeepsTable: a rejected reconfiguration keeps the previous
// table.
func TestReconfigureKeepsTable(t *testing.T) {
	h := start(t, routes("", `a={}`))
	if h.Configure([]byte(`{"routes":[{"name":"x"}]}`)) {
		t.Fatal("bad configuration accepted")
	}
	if res := do(h, get("h", "/")); res.upstream != "a" {
		t.Fatalf("result %+v", res)
	}
}

// TestEmptyConfig: no configuration means no routes: everything is 404.
func TestEmptyConfig(t *testing.T) {
	h := start(t, "")
	if res := do(h, get("h", "/")); res.status != 404 {
		t.Fatalf("result %+v", res)
	}
}

// BenchmarkRoute measures one routing decision over a 50-route table with
// a header condition and a prefix rewrite.
func BenchmarkRoute(b *testing.B) {
	var rs []string
	for i := range 48 {
		rs = append(rs, fmt.Sprintf(`r%d={"hosts":["h%d.example.com"],"path_prefix":"/p%d"}`, i, i, i))
	}
	rs = append(rs, `rx={"path_regex":"^/items/[0-9]+$"}`)
	cfg := routes("", rs...)
	cfg = strings.TrimSuffix(cfg, "]}") + `,{"name":"api","match":[{"hosts":["api.example.com"],"path_prefix":"/v1","headers":[{"name":"x-env","exact":"prod"}]}],"to":[{"upstream":"a","weight":9},{"upstream":"b","weight":1}],"rewrite":{"path_prefix":"/"}}]}`
	h := start(b, cfg)
	hdrs := [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "api.example.com"}, {":path", "/v1/users/42?x=1"}, {"x-env", "prod"}}
	b.ReportAllocs()
	for b.Loop() {
		s := h.NewStream()
		if s.CallOnRequestHeaders(hdrs, true) != proxywasm.Continue {
			b.Fatal("not routed")
		}
		s.Complete()
	}
}
