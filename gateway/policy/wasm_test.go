package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/wasmhost"
)

// wasmStage prepares src (package wasmgate.authz) on engine, with data
// (JSON) when not "".
func wasmStage(t *testing.T, engine, src, data string, mod func(*Config)) *Stage {
	t.Helper()
	dir := t.TempDir()
	c := Config{Name: "t", Files: []string{filepath.Join(dir, "p.rego")}, Engine: engine, CacheSize: -1}
	if err := os.WriteFile(c.Files[0], []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if data != "" {
		c.Data = []string{filepath.Join(dir, "d.json")}
		if err := os.WriteFile(c.Data[0], []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if mod != nil {
		mod(&c)
	}
	s, err := New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Engine() != engine {
		t.Fatalf("engine %s, want %s", s.Engine(), engine)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func testExchange(path string) *exchange.Exchange {
	x := &exchange.Exchange{}
	x.Request.SetMethod("GET")
	x.Request.SetScheme("http")
	x.Request.SetAuthority("api.example.com")
	x.Request.SetPath(path)
	x.Request.Protocol = exchange.HTTP11
	x.Source = netip.MustParseAddrPort("10.1.2.3:54321")
	x.Consumer = "bob"
	return x
}

// bothEngines evaluates src on both engines and checks that they agree.
func bothEngines(t *testing.T, src, data string, x *exchange.Exchange) (Decision, error) {
	t.Helper()
	td, terr := wasmStage(t, EngineTopdown, src, data, nil).Evaluate(context.Background(), x)
	wd, werr := wasmStage(t, EngineWasm, src, data, nil).Evaluate(context.Background(), x)
	if !reflect.DeepEqual(td, wd) || (terr == nil) != (werr == nil) {
		t.Fatalf("engines disagree:\ntopdown %+v %v\nwasm    %+v %v", td, terr, wd, werr)
	}
	return wd, werr
}

func TestWasmHostBuiltins(t *testing.T) {
	// sprintf and units.parse_bytes are not in the OPA wasm runtime: they
	// come back to Go through opa_builtinN. glob.match and regex.match are
	// routed there on purpose.
	const src = `package wasmgate.authz
decision := {
	"allow": true,
	"reason": sprintf("%s %s %d %v", [input.request.method, input.request.path, input.source.port, data.cfg]),
	"headers": {
		"x-size": format_int(units.parse_bytes(data.cfg.size), 10),
		"x-glob": sprintf("%v", [glob.match(data.cfg.glob, ["/"], input.request.path)]),
		"x-regex": sprintf("%v", [regex.match(data.cfg.re, input.request.path)]),
		"x-re-match": sprintf("%v", [[m | some m in regex.find_all_string_submatch_n("([a-z]+)", input.request.path, -1)]]),
	},
}
`
	const data = `{"cfg": {"size": "10KB", "glob": "/v1/**", "re": "^/v1/[a-z]+/[0-9]+$", "set": [1, 2.5, "x"]}}`
	x := testExchange("/v1/items/42")
	d, err := bothEngines(t, src, data, x)
	if err != nil {
		t.Fatal(err)
	}
	want := []Header{{"x-glob", "true"}, {"x-re-match", `[["v", "v"], ["items", "items"]]`}, {"x-regex", "true"}, {"x-size", "10000"}}
	if !reflect.DeepEqual(d.Headers, want) || !strings.HasPrefix(d.Reason, "GET /v1/items/42 54321 {") {
		t.Errorf("decision %+v", d)
	}

	s := wasmStage(t, EngineWasm, src, data, nil)
	var names []string
	for _, b := range s.wasm.builtins {
		names = append(names, b.name)
	}
	for _, n := range []string{"sprintf", "units.parse_bytes", "glob.match", "regex.match", "regex.find_all_string_submatch_n"} {
		if !strings.Contains(strings.Join(names, " "), n) {
			t.Errorf("builtin %s is not a host builtin: %v", n, names)
		}
	}
	if !s.wasm.direct {
		t.Error("values are not read from memory directly: the layout probe failed")
	}
	// A repeated evaluation reads the data's strings from the cache.
	for range 3 {
		if d2, err := s.Evaluate(context.Background(), x); err != nil || !reflect.DeepEqual(d, d2) {
			t.Fatalf("second evaluation: %+v %v", d2, err)
		}
	}
}

func TestWasmBuiltinErrors(t *testing.T) {
	// A Go builtin failing fails the evaluation on both engines, and the
	// instance stays in the pool.
	src := `package wasmgate.authz
decision := units.parse_bytes(input.request.path) > 0
`
	for _, engine := range []string{EngineTopdown, EngineWasm} {
		s := wasmStage(t, engine, src, "", func(c *Config) { c.WasmPoolSize = 1 })
		_, err := s.Evaluate(context.Background(), testExchange("/x"))
		var ee *EvalError
		if !errors.As(err, &ee) || ee.Reason != "evaluation failed" || !strings.Contains(err.Error(), "units.parse_bytes") {
			t.Errorf("%s: %v", engine, err)
		}
		if engine == EngineWasm && s.wasm.count.Load() != 1 {
			t.Errorf("instances: %d", s.wasm.count.Load())
		}
	}
	// A builtin of the OPA wasm runtime failing is undefined there.
	src = `package wasmgate.authz
decision := to_number(input.request.path) > 0
`
	_, err := wasmStage(t, EngineWasm, src, "", nil).Evaluate(context.Background(), testExchange("/x"))
	if ee := (*EvalError)(nil); !errors.As(err, &ee) || ee.Reason != "decision is undefined" {
		t.Errorf("native builtin error: %v", err)
	}
}

func TestWasmGuestFailures(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// A conflict makes the guest call opa_abort; running out of memory
	// traps. Either fails that evaluation only: the instance is replaced.
	const src = `package wasmgate.authz
decision := true if input.request.path == "/conflict"
decision := false if input.request.path == "/conflict"
decision := count([x | some x in numbers.range(1, 10000000)]) > 0 if input.request.path == "/big"
default decision := true
`
	s := wasmStage(t, EngineWasm, src, "", func(c *Config) { c.WasmPoolSize = 2; c.Logger = log })
	e := s.wasm
	e.maxInstancePages(t, src, 64)
	if d, err := s.Evaluate(context.Background(), testExchange("/ok")); err != nil || !d.Allow {
		t.Fatalf("%+v %v", d, err)
	}
	for _, tc := range []struct{ path, reason, err string }{
		{"/conflict", "conflicting decisions", "var assignment conflict"},
		{"/big", "evaluation failed", "opa_malloc"},
	} {
		before := e.count.Load()
		_, err := s.Evaluate(context.Background(), testExchange(tc.path))
		var ee *EvalError
		if !errors.As(err, &ee) || ee.Reason != tc.reason || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v", tc.path, err)
		}
		if n := e.count.Load(); n != before-1 {
			t.Errorf("%s: %d live instances after a failure, want %d", tc.path, n, before-1)
		}
		if d, err := s.Evaluate(context.Background(), testExchange("/ok")); err != nil || !d.Allow {
			t.Fatalf("after %s: %+v %v", tc.path, d, err)
		}
		if n := e.count.Load(); n != before {
			t.Errorf("%s: %d live instances after the replacement, want %d", tc.path, n, before)
		}
	}
	if !strings.Contains(logs.String(), "policy wasm instance replaced") {
		t.Errorf("no replacement logged:\n%s", logs.String())
	}
}

// maxInstancePages lowers the memory limit of e's instances by replacing
// them with instances of a module limited to pages: src, e's only module
// (without data), compiled again.
func (e *wasmEngine) maxInstancePages(t *testing.T, src string, pages uint32) {
	t.Helper()
	for range e.size {
		e.discard(<-e.pool)
	}
	mod := e.compiled
	t.Cleanup(func() { _ = mod.Close(context.Background()) })
	ep, err := wasmEntrypoint(ast.MustParseBody(DefaultQuery))
	if err != nil {
		t.Fatal(err)
	}
	c := &wasmConfig{
		modules: []*ast.Module{ast.MustParseModuleWithOpts(src, ast.ParserOptions{RegoVersion: ast.RegoV1})},
		data:    map[string]any{},
	}
	bin, err := compileWasm(context.Background(), c, ep)
	if err != nil {
		t.Fatal(err)
	}
	if bin, err = wasmhost.DefineImportedMemory(bin, pages); err != nil {
		t.Fatal(err)
	}
	if e.compiled, err = e.rt.CompileModule(context.Background(), bin); err != nil {
		t.Fatal(err)
	}
}

func TestWasmDataLoadedOnce(t *testing.T) {
	// Every evaluation starts from the heap right after the data: the
	// instance neither parses the data again nor grows.
	var data strings.Builder
	data.WriteString(`{"users": {`)
	for i := range 2000 {
		if i > 0 {
			data.WriteString(",")
		}
		fmt.Fprintf(&data, `"user%d": {"roles": ["r%d"]}`, i, i%7)
	}
	data.WriteString(`}}`)
	s := wasmStage(t, EngineWasm, `package wasmgate.authz
default decision := false
decision if "r3" in data.users[input.consumer].roles
`, data.String(), func(c *Config) { c.WasmPoolSize = 1 })
	if _, err := s.Evaluate(context.Background(), testExchange("/")); err != nil {
		t.Fatal(err)
	}
	in := <-s.wasm.pool
	dataAddr, heap, size := in.dataAddr, in.evalHeap, in.mem.Size()
	s.wasm.pool <- in
	for i := range 500 {
		x := testExchange("/")
		x.Consumer = fmt.Sprintf("user%d", i)
		d, err := s.Evaluate(context.Background(), x)
		if err != nil || d.Allow != (i%7 == 3) {
			t.Fatalf("user%d: %+v %v", i, d, err)
		}
	}
	in = <-s.wasm.pool
	defer func() { s.wasm.pool <- in }()
	if in.dataAddr != dataAddr || in.evalHeap != heap || in.mem.Size() != size {
		t.Errorf("data at %d, heap at %d, %d bytes; was %d, %d, %d", in.dataAddr, in.evalHeap, in.mem.Size(), dataAddr, heap, size)
	}
}

func TestWasmConcurrentPool(t *testing.T) {
	rbac := func(engine string) *Stage {
		s, err := New(context.Background(), Config{
			Name: "rbac", Files: []string{"../../policies/rbac.rego"}, Data: []string{"testdata/rbac.json"},
			Query: "data.wasmgate.rbac.decision", Engine: engine, CacheSize: -1, WasmPoolSize: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
		return s
	}
	ws, ts := rbac(EngineWasm), rbac(EngineTopdown)
	consumers := []string{"alice", "bob", "carol", ""}
	paths := []string{"/v1/items", "/v1/items/7", "/admin", "/healthz", "/v2/x"}
	methods := []string{"GET", "POST", "DELETE", "HEAD"}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 100 {
				x := testExchange(paths[(g+i)%len(paths)])
				x.Consumer = consumers[(g*3+i)%len(consumers)]
				x.Request.SetMethod(methods[i%len(methods)])
				if i%5 == 0 {
					x.SetAttr("claims", []byte(`{"roles": "writer reader"}`))
				}
				wd, werr := ws.Evaluate(context.Background(), x)
				td, terr := ts.Evaluate(context.Background(), x)
				if werr != nil || terr != nil || !reflect.DeepEqual(wd, td) {
					errs <- fmt.Errorf("%s %s as %q: wasm %+v %v, topdown %+v %v", x.Request.Method, x.Request.Path, x.Consumer, wd, werr, td, terr)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := ws.wasm.count.Load(); n != 2 || len(ws.wasm.pool) != 2 {
		t.Errorf("%d instances, %d idle; want 2", n, len(ws.wasm.pool))
	}
}

func TestWasmEngineSelection(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	tests := []struct {
		name, src, query string
		engine, want     string
		reason           string // logged when auto falls back; New's error with wasm
	}{
		{"auto", "decision := true", "", EngineAuto, EngineWasm, ""},
		{"rego", "decision := true", "", "rego", EngineTopdown, "configured"},
		{"clock", "decision := time.now_ns() > 0", "", EngineAuto, EngineTopdown, "time.now_ns"},
		{"http.send", `decision := http.send({"method": "GET", "url": "http://127.0.0.1:1"}).status_code == 200`, "", EngineAuto, EngineTopdown, "http.send"},
		{"query not a reference", "decision := true", "data.wasmgate.authz.decision == true", EngineAuto, EngineTopdown, "not a reference"},
		{"query with two expressions", "decision := true", "data.wasmgate.authz.decision; input.x", EngineAuto, EngineTopdown, "2 expressions"},
		{"wasm required", "decision := time.now_ns() > 0", "", EngineWasm, "", "time.now_ns"},
		{"unknown engine", "decision := true", "", "fast", "", "unknown engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			p := filepath.Join(t.TempDir(), "p.rego")
			if err := os.WriteFile(p, []byte("package wasmgate.authz\n"+tt.src+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := New(context.Background(), Config{Name: "t", Files: []string{p}, Query: tt.query, Engine: tt.engine, Logger: log})
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), tt.reason) {
					t.Fatalf("error %v, want one naming %q", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			if s.Engine() != tt.want || !strings.Contains(logs.String(), "engine="+tt.want) ||
				!strings.Contains(logs.String(), tt.reason) {
				t.Errorf("engine %s, want %s; log:\n%s", s.Engine(), tt.want, logs.String())
			}
		})
	}
}

// TestWasmInputJSON checks that the JSON input the wasm engine builds is
// the document topdown gets.
func TestWasmInputJSON(t *testing.T) {
	s := &Stage{name: "t", keys: newKeys(), includeBody: true, maxBody: 1 << 10}
	exchanges := map[string]func(x *exchange.Exchange){
		"browser": func(x *exchange.Exchange) {
			x.Request.Header.Add("user-agent", "Mozilla/5.0 \"quoted\" \\ \x01 tab\t é")
			x.Request.Header.Add("accept", "text/html")
			x.Request.Header.Add("cookie", "a=1")
			x.Request.Header.Add("x-custom", "1")
			x.Request.Header.Add("accept", "application/json")
			x.Request.Header.Add("cookie", "b=2")
			x.Request.Header.Add("x-custom", "")
			x.SetAttr("claims", []byte(`{"sub": "bob", "roles": ["reader"], "n": 1.5e3, "nested": {"a": [null, true]}}`))
		},
		"query": func(x *exchange.Exchange) {
			x.Request.SetPath("/p?a=1&b=x+y&a=%41%zz&&c&d=&%e2%82%ac=euro&a=3")
		},
		"json body": func(x *exchange.Exchange) {
			x.Request.SetMethod("POST")
			x.Request.Header.Set("content-type", "application/json")
			x.Request.Body, x.Request.BodyBuffered = []byte(` {"amount": 5, "tags": ["a", "b"]} `), true
			x.Request.ContentLength = int64(len(x.Request.Body))
		},
		"form body": func(x *exchange.Exchange) {
			x.Request.Header.Set("content-type", "application/x-www-form-urlencoded")
			x.Request.Body, x.Request.BodyBuffered = []byte(`a=1&a=2&b=x+y`), true
			x.Request.ContentLength = int64(len(x.Request.Body))
		},
		"empty": func(x *exchange.Exchange) {
			*x = exchange.Exchange{}
		},
	}
	for name, fill := range exchanges {
		t.Run(name, func(t *testing.T) {
			x := testExchange("/v1/items/42?expand=owner")
			x.Destination = netip.MustParseAddrPort("[::1]:8080")
			x.Listener, x.Route, x.Upstream, x.RequestID = "web", "r", "u", 77
			fill(x)
			for _, n := range []need{needAll, needMethod | needPath | needConsumer, needHeaders, needQuery | needClaims, 0} {
				var ab inputBuilder
				want, _, err := ab.build(s, x, n)
				if err != nil {
					t.Fatal(err)
				}
				var jb jsonInput
				if _, err := jb.build(s, x, n); err != nil {
					t.Fatal(err)
				}
				got, err := ast.ValueFromReader(bytes.NewReader(jb.buf))
				if err != nil {
					t.Fatalf("needs %b: invalid JSON %s: %v", n, jb.buf, err)
				}
				if got.Compare(want) != 0 {
					t.Errorf("needs %b:\njson %v\nast  %v", n, got, want)
				}
			}
		})
	}
	// Denies and failures are the same too.
	for _, tc := range []struct {
		name string
		fill func(x *exchange.Exchange)
	}{
		{"too large", func(x *exchange.Exchange) { x.Request.ContentLength = 2000 }},
		{"streamed", func(x *exchange.Exchange) { x.Request.ContentLength = 10 }},
		{"malformed json", func(x *exchange.Exchange) {
			x.Request.Header.Set("content-type", "application/json")
			x.Request.Body, x.Request.BodyBuffered = []byte(`{} {}`), true
		}},
		{"malformed form", func(x *exchange.Exchange) {
			x.Request.Header.Set("content-type", "application/x-www-form-urlencoded")
			x.Request.Body, x.Request.BodyBuffered = []byte(`a=%zz`), true
		}},
		{"claims", func(x *exchange.Exchange) { x.SetAttr("claims", []byte(`{"sub":`)) }},
	} {
		x := testExchange("/")
		tc.fill(x)
		var ab inputBuilder
		_, wantDeny, wantErr := ab.build(s, x, needAll)
		var jb jsonInput
		gotDeny, gotErr := jb.build(s, x, needAll)
		if !reflect.DeepEqual(gotDeny, wantDeny) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || (wantDeny == nil && wantErr == nil) {
			t.Errorf("%s: json %+v %v, ast %+v %v", tc.name, gotDeny, gotErr, wantDeny, wantErr)
		}
	}
}

func TestValueText(t *testing.T) {
	for _, src := range []string{
		`null`, `true`, `-1.5e3`, `"a\"b\\c\n\u00e9\ud83d\ude00"`, `[]`, `{}`, `set()`,
		`[1, "x", [true], {"k": {"v"}}]`, `{"b": 1, "a": [2]}`, `{1: "one", ["k"]: 2}`, `{"x", 1, {"y"}}`,
	} {
		want := ast.MustParseTerm(src).Value
		text, err := appendValueText(nil, want)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := parseValueText(text)
		if err != nil || got.Compare(want) != 0 {
			t.Errorf("%s: written %s, read %v, %v", src, text, got, err)
		}
	}
	for _, bad := range []string{``, `[1,`, `{"a" 1}`, `"abc`, `01x`, `tru`, `{1, 2: 3}`, `[1] 2`} {
		if v, err := parseValueText([]byte(bad)); err == nil {
			t.Errorf("%q: parsed as %v", bad, v)
		}
	}
}

// TestDecoderFast checks the fast path of result against decide on the
// parsed value: the same decision, or a fall back to the general path.
func TestDecoderFast(t *testing.T) {
	for _, v := range []string{
		`true`, `false`, `{}`, `{"allow": true}`,
		`{"allow": false, "status": 451, "reason": "r", "body": "b", "headers": {"x-a": ["1", "2"], "X-B": "3"}}`,
		`{"allow": true, "status": 500, "body": "ignored", "headers": {}}`,
		`{"allow": false, "body": ""}`, `{"allow": false, "headers": {"x": []}}`,
		`{"allow": false, "status": 403.5}`, `{"allow": false, "status": 99}`, `{"allow": "yes"}`,
		`{"allow": true, "headers": {"x y": "1"}}`, `{"reason": "a\"b"}`, `{"other": 1, "allow": true}`,
	} {
		var d decoder
		text := []byte(`{{"result": ` + v + `}}`)
		wantDec, wantErr := decide(ast.MustParseTerm(v).Value)
		for range 2 { // the second time from the caches
			dec, err := d.result(text)
			if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(dec, wantDec) {
				t.Errorf("%s: %+v %v, want %+v %v", v, dec, err, wantDec, wantErr)
			}
		}
	}
	var d decoder
	for text, reason := range map[string]string{
		`set()`:                            "decision is undefined",
		`{{"result": 1}, {"result": 2}}`:   "query has 2 results; a decision has one",
		`{{"result": 1}}`:                  "invalid decision",
		`{{"result": {"allow": {"x"}}}}`:   "invalid decision",
		`{{"result": [true]}}`:             "invalid decision",
		` { {"result" : true } } `:         "",
		`{{"result": true}} trailing data`: "reading the result set",
	} {
		dec, err := d.result([]byte(text))
		switch {
		case reason == "":
			if err != nil || !dec.Allow {
				t.Errorf("%s: %+v %v", text, dec, err)
			}
		case err == nil || !strings.Contains(err.Error(), reason):
			t.Errorf("%s: %+v %v, want %q", text, dec, err, reason)
		}
	}
}

// TestShippedPoliciesAgree evaluates the shipped policies on both engines
// over a grid of requests: auto picks wasm for each, and the decisions
// are the same.
func TestShippedPoliciesAgree(t *testing.T) {
	policies := []struct{ file, query, data string }{
		{"rbac.rego", "data.wasmgate.rbac.decision", `{"rbac": {
  "consumers": {"alice": ["admin"], "bob": ["reader"], "wendy": ["writer", "reader"]},
  "claim": "scope",
  "roles": {
    "reader": [{"methods": ["GET", "HEAD"], "paths": ["/v1/**"]}],
    "writer": [{"methods": ["POST", "PUT"], "paths": ["/v1/items", "/v1/items/*"]}],
    "admin":  [{"methods": ["*"], "paths": ["/**"]}]
  },
  "public": [{"methods": ["GET"], "paths": ["/healthz"]}]
}}`},
		{"cidr.rego", "data.wasmgate.cidr.decision", `{"cidr": {"allow": ["10.0.0.0/8", "2001:db8::/32", "192.168.1.1"], "deny": ["10.6.6.0/24"]}}`},
		{"allowlist.rego", "data.wasmgate.allowlist.decision", `{"allowlist": {"rules": [
  {"methods": ["GET", "HEAD"], "paths": ["/", "/static/**"]},
  {"methods": ["*"], "paths": ["/api/v1/*/items"]}], "status": 404}}`},
	}
	sources := []string{"10.1.2.3:1", "10.6.6.7:2", "192.168.1.1:3", "192.168.1.2:4", "[2001:db8::1]:5", "[::1]:6"}
	paths := []string{"/", "/healthz", "/v1/items", "/v1/items/7", "/v1/items/7/x", "/static/a/b.css", "/api/v1/x/items", "/api/v1/x/y/items", "/admin"}
	methods := []string{"GET", "HEAD", "POST", "DELETE"}
	who := []struct{ consumer, claims string }{{"alice", ""}, {"bob", ""}, {"wendy", ""}, {"", ""}, {"", `{"scope": "reader writer"}`}, {"nobody", `{"scope": ""}`}}
	for _, p := range policies {
		t.Run(p.file, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "d.json")
			if err := os.WriteFile(data, []byte(p.data), 0o644); err != nil {
				t.Fatal(err)
			}
			stage := func(engine string) *Stage {
				s, err := New(context.Background(), Config{Name: p.file, Files: []string{"../../policies/" + p.file},
					Data: []string{data}, Query: p.query, Engine: engine, CacheSize: -1})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close(context.Background()) })
				return s
			}
			ws, ts := stage(EngineAuto), stage(EngineTopdown)
			if ws.Engine() != EngineWasm {
				t.Fatalf("auto picked %s", ws.Engine())
			}
			n := 0
			for i, src := range sources {
				for j, path := range paths {
					for k, m := range methods {
						w := who[(i+j+k)%len(who)]
						x := testExchange(path)
						x.Source = netip.MustParseAddrPort(src)
						x.Request.SetMethod(m)
						x.Consumer = w.consumer
						if w.claims != "" {
							x.SetAttr("claims", []byte(w.claims))
						}
						wd, werr := ws.Evaluate(context.Background(), x)
						td, terr := ts.Evaluate(context.Background(), x)
						if fmt.Sprint(werr) != fmt.Sprint(terr) || !reflect.DeepEqual(wd, td) {
							t.Fatalf("%s %s from %s as %+v:\nwasm    %+v %v\ntopdown %+v %v", m, path, src, w, wd, werr, td, terr)
						}
						n++
					}
				}
			}
			t.Logf("%d requests agree", n)
		})
	}
}

func TestRouteBuiltins(t *testing.T) {
	parse := func(src string) *ast.Module {
		return ast.MustParseModuleWithOpts(src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	}
	mods := []*ast.Module{
		parse(`package a
x if glob.match("a*", [], input.p)
y := concat(",", {s | some s in input.s})
z if regex.match("^a", input.p) with input as {"p": "a"}`),
		parse(`package b
import data.lib.glob
x if glob.match("a*", [], input.p)
y := concat(",", input.s)`),
		parse(`package c
x if glob.match("a*", [], input.p)
json := 1`),
		parse(`package d
t if data.a.x with glob.match as false`),
	}
	out, decls := routeBuiltins(mods)
	var names []string
	for _, d := range decls {
		names = append(names, d.Name)
	}
	if got := strings.Join(names, " "); got != "wasmgate_host.regex.match wasmgate_host.concat" {
		t.Errorf("routed %s", got)
	}
	for i, want := range []string{
		`wasmgate_host.regex.match("^a"`, // glob.match is replaced by a with: native everywhere
		`wasmgate_host.concat(","`,       // the import of glob leaves glob.match alone
		`glob.match("a*"`,
	} {
		if !strings.Contains(out[i].String(), want) {
			t.Errorf("module %d:\n%s\nlacks %s", i, out[i], want)
		}
	}
	if strings.Contains(mods[0].String(), hostBuiltinPrefix) {
		t.Error("routeBuiltins changed its input")
	}
}
