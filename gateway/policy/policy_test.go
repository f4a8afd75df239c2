package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/policy"
)

// writeFiles writes name → content under a new temporary directory and
// returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// engines are the engines every evaluation test runs on.
var engines = []string{policy.EngineTopdown, policy.EngineWasm}

// forEachEngine runs f as a subtest per engine.
func forEachEngine(t *testing.T, f func(t *testing.T, engine string)) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { f(t, engine) })
	}
}

// newStage prepares src as the only module, with query DefaultQuery, on
// engine.
func newStage(t *testing.T, engine, src string, mod func(*policy.Config)) *policy.Stage {
	t.Helper()
	dir := writeFiles(t, map[string]string{"p.rego": src})
	c := policy.Config{Name: "t", Files: []string{filepath.Join(dir, "p.rego")}, Engine: engine}
	if mod != nil {
		mod(&c)
	}
	s, err := policy.New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Engine() != engine {
		t.Fatalf("engine %s, want %s", s.Engine(), engine)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func TestInputDocument(t *testing.T) { forEachEngine(t, testInputDocument) }

func testInputDocument(t *testing.T, engine string) {
	s := newStage(t, engine, `package wasmgate.authz
decision := {"allow": false, "body": input}
`, nil)
	var x exchange.Exchange
	benchExchange(&x)
	x.Request.Header.Add("accept", "text/html")
	x.Request.Header.Add("cookie", "b=2")
	x.SetAttr("claims", []byte(`{"sub": "bob", "roles": ["reader"], "n": 1.5}`))
	x.Request.SetPath("/v1/items/42?expand=owner&page=2&page=3&q=a%20b+c&flag")
	d, err := s.Evaluate(context.Background(), &x)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(d.Body, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{
  "version": 1,
  "request": {
    "id": "123456",
    "method": "GET",
    "path": "/v1/items/42",
    "query": {"expand": ["owner"], "page": ["2", "3"], "q": ["a b c"], "flag": [""]},
    "host": "api.example.com",
    "scheme": "http",
    "protocol": "HTTP/1.1",
    "headers": {
      "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
      "accept": "application/json, text/html",
      "accept-encoding": "gzip, deflate, br",
      "accept-language": "en-US,en;q=0.9",
      "authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl",
      "x-request-id": "0f8e2c1a-7d3b-4e9a-9c51-2b6f0e4d8a17",
      "x-forwarded-for": "203.0.113.9",
      "cookie": "session=abc; b=2"
    }
  },
  "source": {"address": "10.1.2.3", "port": 54321},
  "destination": {"address": "10.0.0.1", "port": 8080},
  "listener": "web",
  "tls": {},
  "route": "v1",
  "upstream": "api",
  "consumer": "bob",
  "claims": {"sub": "bob", "roles": ["reader"], "n": 1.5}
}`), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("input:\n%s", g)
	}
}

// TestInputOnlyWhatIsRead checks that a policy reading a few fields gets
// the same answers as one reading the whole input.
func TestInputOnlyWhatIsRead(t *testing.T) { forEachEngine(t, testInputOnlyWhatIsRead) }

func testInputOnlyWhatIsRead(t *testing.T, engine string) {
	partial := newStage(t, engine, `package wasmgate.authz
decision := {"allow": false, "body": [input.request.method, input.consumer, input.source.address]}
`, nil)
	whole := newStage(t, engine, `package wasmgate.authz
import input.request
decision := {"allow": false, "body": [request.method, input.consumer, input.source.address]}
`, nil)
	var x exchange.Exchange
	benchExchange(&x)
	d, err := partial.Evaluate(context.Background(), &x)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Body) != `["GET","bob","10.1.2.3"]` {
		t.Errorf("partial input: %s", d.Body)
	}
	d, err = whole.Evaluate(context.Background(), &x)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Body) != `["GET","bob","10.1.2.3"]` {
		t.Errorf("input through an import: %s", d.Body)
	}
}

func TestDecisions(t *testing.T) { forEachEngine(t, testDecisions) }

func testDecisions(t *testing.T, engine string) {
	tests := []struct {
		name     string
		decision string // Rego expression
		want     policy.Decision
		fails    string // EvalError reason, "" when it does not fail
	}{
		{name: "true", decision: `true`, want: policy.Decision{Allow: true}},
		{name: "false", decision: `false`, want: policy.Decision{}},
		{name: "allow with headers", decision: `{"allow": true, "headers": {"X-User": "bob", "x-multi": ["a", "b"]}, "status": 500, "body": "ignored"}`,
			want: policy.Decision{Allow: true, Headers: []policy.Header{{"x-user", "bob"}, {"x-multi", "a"}, {"x-multi", "b"}}}},
		{name: "deny in full", decision: `{"allow": false, "status": 302, "headers": {"location": "/login"}, "body": "", "reason": "login"}`,
			want: policy.Decision{Status: 302, Headers: []policy.Header{{"location", "/login"}}, Body: []byte{}, Reason: "login"}},
		{name: "missing allow denies", decision: `{"status": 401}`, want: policy.Decision{Status: 401}},
		{name: "non-string reason", decision: `{"allow": false, "reason": {"code": 7}}`, want: policy.Decision{Reason: `{"code": 7}`}},
		{name: "number", decision: `1`, fails: "invalid decision"},
		{name: "allow not boolean", decision: `{"allow": "yes"}`, fails: "invalid decision"},
		{name: "status out of range", decision: `{"allow": false, "status": 99}`, fails: "invalid decision"},
		{name: "status not whole", decision: `{"allow": false, "status": 403.5}`, fails: "invalid decision"},
		{name: "header splitting", decision: `{"allow": true, "headers": {"x": "a\r\nset-cookie: evil=1"}}`, fails: "invalid decision"},
		{name: "bad header name", decision: `{"allow": true, "headers": {"x y": "a"}}`, fails: "invalid decision"},
		{name: "header not string", decision: `{"allow": true, "headers": {"x": 1}}`, fails: "invalid decision"},
		{name: "headers not object", decision: `{"allow": true, "headers": ["x"]}`, fails: "invalid decision"},
		{name: "headers in name order", decision: `{"allow": true, "headers": {"b": "2", "A": "1", "a": ["3", "4"]}}`,
			want: policy.Decision{Allow: true, Headers: []policy.Header{{"a", "1"}, {"a", "3"}, {"a", "4"}, {"b", "2"}}}},
		{name: "escapes and a JSON body", decision: `{"allow": false, "reason": "q\"\n\u00e9", "body": {"n": [1, 2.5], "s": {"x"}}}`,
			want: policy.Decision{Reason: "q\"\né", Body: []byte(`{"n":[1,2.5],"s":["x"]}`),
				Headers: []policy.Header{{"content-type", "application/json"}}}},
		{name: "set", decision: `{"a"}`, fails: "invalid decision"},
	}
	var x exchange.Exchange
	benchExchange(&x)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStage(t, engine, "package wasmgate.authz\ndecision := "+tt.decision+"\n", nil)
			d, err := s.Evaluate(context.Background(), &x)
			if tt.fails != "" {
				var ee *policy.EvalError
				if !errors.As(err, &ee) || ee.Reason != tt.fails || ee.Policy != "t" {
					t.Fatalf("got %+v, %v; want failure %q", d, err, tt.fails)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d, tt.want) {
				t.Errorf("got %+v\nwant %+v", d, tt.want)
			}
		})
	}
}

func TestOnRequest(t *testing.T) { forEachEngine(t, testOnRequest) }

func testOnRequest(t *testing.T, engine string) {
	const src = `package wasmgate.authz
decision := {"allow": true, "headers": {"x-checked": "1"}} if input.request.path == "/ok"
decision := {"allow": false, "status": 451, "headers": {"x-a": ["1", "2"]}} if input.request.path == "/no"
`
	tests := []struct {
		path     string
		failOpen bool
		act      chain.Action
		err      bool
		status   int
		body     string
	}{
		{path: "/ok", act: chain.Continue},
		{path: "/no", act: chain.Stop, status: 451, body: "451 Unavailable For Legal Reasons\n"},
		{path: "/undefined", act: chain.Stop, status: 403, body: "403 Forbidden\n"},
		{path: "/undefined", failOpen: true, act: chain.Continue, err: true},
		{path: "/no", failOpen: true, act: chain.Stop, status: 451},
	}
	for _, tt := range tests {
		s := newStage(t, engine, src, func(c *policy.Config) { c.FailOpen = tt.failOpen })
		var x exchange.Exchange
		benchExchange(&x)
		x.Request.SetPath(tt.path)
		act, err := s.OnRequest(context.Background(), &x)
		if act != tt.act || (err != nil) != tt.err {
			t.Errorf("%s open=%v: %v %v", tt.path, tt.failOpen, act, err)
			continue
		}
		if err != nil {
			var se chain.StatusError
			if !errors.As(err, &se) || se.Status() != 403 {
				t.Errorf("%s: error %v is not a StatusError 403", tt.path, err)
			}
		}
		switch {
		case tt.status == 0:
			if x.IsLocal() {
				t.Errorf("%s: local response %d", tt.path, x.Response.Status)
			}
			if tt.path == "/ok" && string(x.Request.Header.Peek("x-checked")) != "1" {
				t.Errorf("%s: header not set on the request", tt.path)
			}
		case !x.IsLocal() || x.Response.Status != tt.status:
			t.Errorf("%s: response %v %d, want %d", tt.path, x.IsLocal(), x.Response.Status, tt.status)
		case tt.body != "" && string(x.Response.Body) != tt.body:
			t.Errorf("%s: body %q, want %q", tt.path, x.Response.Body, tt.body)
		}
		if tt.path == "/no" {
			var vals []string
			x.Response.Header.Values("x-a", func(v []byte) bool { vals = append(vals, string(v)); return true })
			if !reflect.DeepEqual(vals, []string{"1", "2"}) {
				t.Errorf("deny headers: %q", vals)
			}
		}
	}
}

func TestBody(t *testing.T) { forEachEngine(t, testBody) }

func testBody(t *testing.T, engine string) {
	s := newStage(t, engine, `package wasmgate.authz
decision := {"allow": false, "body": {"body": object.get(input.request, "body", null), "raw": input.request.raw_body}}
`, func(c *policy.Config) { c.IncludeBody, c.MaxBody = true, 64 })
	if s.BodyLimit() != 64 {
		t.Errorf("BodyLimit %d", s.BodyLimit())
	}
	tests := []struct {
		name, ctype, body string
		buffered          bool
		length            int64
		want              string // decision body
		status            int    // deny without evaluation
		fails             bool
	}{
		{name: "json", ctype: "application/json; charset=utf-8", body: `{"a": [1, "x"]}`, buffered: true,
			want: `{"body":{"a":[1,"x"]},"raw":"{\"a\": [1, \"x\"]}"}`},
		{name: "json suffix", ctype: "application/problem+json", body: `3`, buffered: true, want: `{"body":3,"raw":"3"}`},
		{name: "form", ctype: "application/x-www-form-urlencoded", body: `a=1&a=2&b=x+y`, buffered: true,
			want: `{"body":{"a":["1","2"],"b":["x y"]},"raw":"a=1\u0026a=2\u0026b=x+y"}`},
		{name: "other type", ctype: "text/plain", body: "hello", buffered: true, want: `{"body":null,"raw":"hello"}`},
		{name: "no body", buffered: false, length: 0, want: `{"body":null,"raw":""}`},
		{name: "malformed json", ctype: "application/json", body: `{"a":`, buffered: true, status: 400},
		{name: "trailing data", ctype: "application/json", body: `{} {}`, buffered: true, status: 400},
		{name: "malformed form", ctype: "application/x-www-form-urlencoded", body: `a=%zz`, buffered: true, status: 400},
		{name: "too large declared", ctype: "application/json", length: 65, status: 413},
		{name: "too large buffered", ctype: "text/plain", body: strings.Repeat("x", 65), buffered: true, status: 413},
		{name: "not buffered", ctype: "application/json", length: 10, fails: true},
		{name: "chunked not buffered", ctype: "application/json", length: -1, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var x exchange.Exchange
			benchExchange(&x)
			x.Request.SetMethod("POST")
			if tt.ctype != "" {
				x.Request.Header.Set("content-type", tt.ctype)
			}
			x.Request.ContentLength = tt.length
			if tt.buffered {
				x.Request.Body, x.Request.BodyBuffered = []byte(tt.body), true
				x.Request.ContentLength = int64(len(tt.body))
			}
			d, err := s.Evaluate(context.Background(), &x)
			switch {
			case tt.fails:
				if err == nil {
					t.Fatalf("no failure: %+v", d)
				}
			case err != nil:
				t.Fatal(err)
			case tt.status != 0:
				if d.Allow || d.Status != tt.status || d.Reason == "" {
					t.Errorf("got %+v, want a %d deny with a reason", d, tt.status)
				}
			case string(d.Body) != tt.want:
				t.Errorf("got %s\nwant %s", d.Body, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) { forEachEngine(t, testLoad) }

func testLoad(t *testing.T, engine string) {
	dir := writeFiles(t, map[string]string{
		"pol/a.rego":       "package wasmgate.authz\ndecision := data.lib.ok if data.cfg.limit == 3\n",
		"pol/lib/b.rego":   "package lib\nok := data.cfg.name == \"x\"\n",
		"pol/a_test.rego":  "package wasmgate.authz_test\nthis is not rego\n",
		"pol/.git/c.rego":  "not rego either\n",
		"d1.json":          `{"cfg": {"limit": 3}}`,
		"d2.yaml":          "cfg:\n  name: x\n",
		"conflict.json":    `{"cfg": {"limit": 4}}`,
		"list.json":        `[1]`,
		"bad.yaml":         "a: [\n",
		"empty/readme.txt": "",
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	s, err := policy.New(context.Background(), policy.Config{Name: "t", Dir: p("pol"), Data: []string{p("d1.json"), p("d2.yaml")}, Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	var x exchange.Exchange
	benchExchange(&x)
	if d, err := s.Evaluate(context.Background(), &x); err != nil || !d.Allow {
		t.Errorf("dir + data: %+v %v", d, err)
	}

	for _, tt := range []struct {
		name string
		c    policy.Config
		want string
	}{
		{"data conflict", policy.Config{Dir: p("pol"), Data: []string{p("d1.json"), p("conflict.json")}}, "data.cfg.limit is set by more than one file"},
		{"data not object", policy.Config{Dir: p("pol"), Data: []string{p("list.json")}}, "must be an object"},
		{"data malformed", policy.Config{Dir: p("pol"), Data: []string{p("bad.yaml")}}, "invalid data document"},
		{"no rego in dir", policy.Config{Dir: p("empty")}, "no *.rego files"},
		{"missing file", policy.Config{Files: []string{p("nope.rego")}}, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Engine = engine
			_, err := policy.New(context.Background(), tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) { forEachEngine(t, testCompileErrors) }

func testCompileErrors(t *testing.T, engine string) {
	dir := writeFiles(t, map[string]string{
		"parse.rego":  "package a\n\nallow if {\n  input.x ==\n}\n",
		"parse2.rego": "package b\n\nallow if input.y = = 1\n",
		"unsafe.rego": "package c\n\nallow if {\n  x == 1\n}\n",
		"ok.rego":     "package wasmgate.authz\ndecision := true\n",
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name  string
		c     policy.Config
		file  string
		line  int
		code  string
		query bool
		n     int
	}{
		{name: "parse errors of every file", c: policy.Config{Files: []string{p("parse.rego"), p("parse2.rego")}},
			file: p("parse.rego"), line: 5, code: "rego_parse_error", n: 2},
		{name: "unsafe var", c: policy.Config{Files: []string{p("unsafe.rego")}}, file: p("unsafe.rego"), line: 4,
			code: "rego_unsafe_var_error", n: 1},
		{name: "query", c: policy.Config{Files: []string{p("ok.rego")}, Query: "data.x["}, query: true,
			code: "rego_parse_error", n: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Name, tt.c.Engine = "t", engine
			_, err := policy.New(context.Background(), tt.c)
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *policy.Error", err)
			}
			if len(pe.Problems) < tt.n {
				t.Fatalf("%d problems, want %d: %v", len(pe.Problems), tt.n, pe)
			}
			got := pe.Problems[0]
			if got.File != tt.file || got.InQuery != tt.query || got.Code != tt.code || (tt.line != 0 && got.Line != tt.line) {
				t.Errorf("problem %+v", got)
			}
			if tt.n == 2 && pe.Problems[1].File != p("parse2.rego") {
				t.Errorf("second problem %+v", pe.Problems[1])
			}
		})
	}
}

func TestRegoTests(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"p.rego":          "package p\nallow if input.x == 1\n",
		"p_test.rego":     "package p_test\nimport data.p\ntest_ok if p.allow with input as {\"x\": 1}\ntest_bad if p.allow with input as {\"x\": 2}\ntodo_test_later if false\n",
		"err/e.rego":      "package e\nn := to_number(input.s)\n",
		"err/e_test.rego": "package e_test\nimport data.e\ntest_builtin_error if e.n == 1 with input as {\"s\": \"x\"}\n",
	})
	var out strings.Builder
	rep, err := policy.Test(context.Background(), []string{dir}, policy.TestOptions{Output: &out})
	if err != nil {
		t.Fatal(err)
	}
	want := policy.TestReport{Passed: 1, Failed: 1, Errored: 1, Skipped: 1}
	if rep != want || rep.OK() {
		t.Errorf("report %+v, want %+v\n%s", rep, want, out.String())
	}
	if !strings.Contains(out.String(), "test_bad") || !strings.Contains(out.String(), "p_test.rego:4") {
		t.Errorf("report does not name the failing test and its line:\n%s", out.String())
	}

	rep, err = policy.Test(context.Background(), []string{dir}, policy.TestOptions{Run: "test_ok"})
	if err != nil || rep != (policy.TestReport{Passed: 1}) || !rep.OK() {
		t.Errorf("filtered: %+v %v", rep, err)
	}

	bad := writeFiles(t, map[string]string{"x_test.rego": "package x\ntest_x if {\n"})
	_, err = policy.Test(context.Background(), []string{bad}, policy.TestOptions{})
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Problems[0].File != filepath.Join(bad, "x_test.rego") {
		t.Errorf("load error %v", err)
	}
}

// TestConcurrentEvaluate runs one stage from many goroutines; with -race
// it checks that shared keys and prepared state are read-only.
func TestConcurrentEvaluate(t *testing.T) { forEachEngine(t, testConcurrentEvaluate) }

func testConcurrentEvaluate(t *testing.T, engine string) {
	s, err := policy.New(context.Background(), policy.Config{
		Name: "rbac", Files: []string{"../../policies/rbac.rego"}, Data: []string{"testdata/rbac.json"},
		Query: "data.wasmgate.rbac.decision", Engine: engine, CacheSize: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			var x exchange.Exchange
			for range 50 {
				benchExchange(&x)
				x.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1000)
				d, err := s.Evaluate(context.Background(), &x)
				if err == nil && !d.Allow {
					err = errors.New("denied")
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
