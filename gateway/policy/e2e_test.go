package policy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway"
	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/gateway/echo"
	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/policy"
)

// authStub is a Go stage standing in for an auth filter: it copies the
// x-test-consumer header to x.Consumer and x-test-claims to the claims
// attribute.
type authStub struct{}

func (authStub) OnRequest(_ context.Context, x *exchange.Exchange) (chain.Action, error) {
	if v, ok := x.Request.Header.Get("x-test-consumer"); ok {
		x.Consumer = v
	}
	if v, ok := x.Request.Header.Get("x-test-claims"); ok {
		x.SetAttr("claims", []byte(v))
	}
	return chain.Continue, nil
}
func (authStub) OnResponse(context.Context, *exchange.Exchange) error { return nil }
func (authStub) Done(*exchange.Exchange)                              {}

func nativeAuth(sc *conf.Stage) (chain.Filter, error) {
	if sc.Module == "builtin:test-auth" {
		return authStub{}, nil
	}
	return nil, nil
}

// e2eEngines are the engines the end-to-end tests run on: "auto" builds
// policy stages as the gateway does by default (every policy here runs on
// wasm), "topdown" sets engine = "rego" on every policy block.
var e2eEngines = []string{policy.EngineAuto, policy.EngineTopdown}

// withEngine sets engine = "rego" on every policy block of chainHCL when
// engine is topdown.
func withEngine(engine, chainHCL string) string {
	if engine != policy.EngineTopdown {
		return chainHCL
	}
	return regexp.MustCompile(`(policy "[^"]*" \{)`).ReplaceAllString(chainHCL, "$1\n    engine = \"rego\"")
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// e2e starts an echo backend and a gateway whose listener "web" runs chain
// "c" in front of upstream "u". files are written to a temporary directory
// the HCL is parsed in. It returns the base URL and the gateway's log.
func e2e(t *testing.T, engine, chainHCL string, files map[string]string) (string, *logBuffer) {
	t.Helper()
	be, err := echo.Start("backend", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.Close() })
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
	src := fmt.Sprintf(`
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  chain    = "c"
  upstream = "u"
}
upstream "u" {
  endpoint %q {}
}
chain "c" {
%s
}
`, be.Addr(), withEngine(engine, chainHCL))
	cfg, diags := conf.Parse(map[string][]byte{"test.hcl": []byte(src)}, dir)
	if diags.HasErrors() {
		var b strings.Builder
		_ = conf.WriteDiagnostics(&b, cfg.Files, diags)
		t.Fatalf("config:\n%s", b.String())
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw := gateway.New(gateway.Options{Logger: log, NativeFilter: nativeAuth})
	if err := gw.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	want := policy.EngineWasm
	if engine == policy.EngineTopdown {
		want = policy.EngineTopdown
	}
	if strings.Contains(chainHCL, "policy ") && !strings.Contains(logs.String(), "engine="+want) {
		t.Fatalf("policy stages do not run on %s:\n%s", want, logs.String())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return "http://" + gw.Addr("web").String(), logs
}

type reply struct {
	status int
	header http.Header
	body   string
	echo   echo.Reply // when the backend answered
}

func do(t *testing.T, method, url, body string, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.Header.Get("Content-Type") == "application/json" && r.status < 300 {
		_ = json.Unmarshal(b, &r.echo)
	}
	return r
}

const rbacData = `{"rbac": {
  "consumers": {"alice": ["admin"], "bob": ["reader"]},
  "roles": {
    "reader": [{"methods": ["GET"], "paths": ["/v1/**"]}],
    "admin":  [{"methods": ["*"], "paths": ["/**"]}]
  }
}}`

func TestE2EShippedRBAC(t *testing.T) {
	for _, engine := range e2eEngines {
		t.Run(engine, func(t *testing.T) { testE2EShippedRBAC(t, engine) })
	}
}

func testE2EShippedRBAC(t *testing.T, engine string) {
	rbac, err := os.ReadFile("../../policies/rbac.rego")
	if err != nil {
		t.Fatal(err)
	}
	url, _ := e2e(t, engine, `
  filter "auth" { module = "builtin:test-auth" }
  policy "rbac" {
    files = ["rbac.rego"]
    data  = ["rbac.json"]
    query = "data.wasmgate.rbac.decision"
  }`, map[string]string{"rbac.rego": string(rbac), "rbac.json": rbacData})

	tests := []struct {
		name, method, path string
		hdr                []string
		status             int
		roles              string
	}{
		{"reader allowed", "GET", "/v1/items", []string{"x-test-consumer", "bob"}, 200, "reader"},
		{"reader wrong method", "DELETE", "/v1/items", []string{"x-test-consumer", "bob"}, 403, ""},
		{"no identity", "GET", "/v1/items", nil, 401, ""},
		{"claims", "POST", "/admin", []string{"x-test-claims", `{"sub":"x","roles":["admin"]}`}, 200, "admin"},
		{"client cannot forge roles", "GET", "/v1/x", []string{"x-test-consumer", "bob", "x-wasmgate-roles", "admin"}, 200, "reader"},
		{"roles as one string", "GET", "/v1/items/7", []string{"x-test-claims", `{"roles":"reader admin"}`}, 200, "admin,reader"},
		{"glob within a segment", "GET", "/v2/items", []string{"x-test-consumer", "bob"}, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, url+tt.path, "", tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 200 {
				if got := r.echo.Headers["x-wasmgate-roles"]; len(got) != 1 || got[0] != tt.roles {
					t.Errorf("upstream saw x-wasmgate-roles %q, want %q", got, tt.roles)
				}
			}
		})
	}
}

const decisionPolicy = `package wasmgate.authz

decision := {"allow": true, "headers": {"x-policy": "checked"}} if {
	input.request.path == "/allow"
}

decision := false if input.request.path == "/bool-deny"

decision := {
	"allow": false,
	"status": 418,
	"body": "no tea for you\n",
	"headers": {"x-why": "teapot", "content-type": "text/plain"},
	"reason": "teapot rule",
} if input.request.path == "/teapot"

decision := {"allow": false, "status": 429, "body": {"error": "slow down"}} if input.request.path == "/json"

# Two complete values for one request: a conflict, an evaluation error.
decision := true if input.request.path == "/conflict"

decision := false if input.request.path == "/conflict"

# A builtin error (strict): to_number of a non-number.
decision := to_number(input.request.headers["x-n"]) > 1 if input.request.path == "/builtin"

# Anything else is undefined.
`

func TestE2EDecisions(t *testing.T) {
	for _, engine := range e2eEngines {
		t.Run(engine, func(t *testing.T) { testE2EDecisions(t, engine) })
	}
}

func testE2EDecisions(t *testing.T, engine string) {
	for _, fail := range []string{"closed", "open"} {
		t.Run(fail, func(t *testing.T) {
			url, logs := e2e(t, engine, fmt.Sprintf(`
  policy "authz" {
    files = ["authz.rego"]
    fail  = %q
  }`, fail), map[string]string{"authz.rego": decisionPolicy})

			r := do(t, "GET", url+"/allow", "")
			if r.status != 200 || len(r.echo.Headers["x-policy"]) != 1 {
				t.Errorf("allow: %d %q, upstream headers %v", r.status, r.body, r.echo.Headers)
			}

			r = do(t, "GET", url+"/bool-deny", "")
			if r.status != 403 || r.body != "403 Forbidden\n" {
				t.Errorf("boolean deny: %d %q", r.status, r.body)
			}

			r = do(t, "GET", url+"/teapot", "")
			if r.status != 418 || r.body != "no tea for you\n" || r.header.Get("X-Why") != "teapot" ||
				r.header.Get("Content-Type") != "text/plain" {
				t.Errorf("custom deny: %d %q %v", r.status, r.body, r.header)
			}
			if strings.Contains(r.body+fmt.Sprint(r.header), "teapot rule") {
				t.Errorf("the reason leaked to the client")
			}

			r = do(t, "GET", url+"/json", "")
			if r.status != 429 || r.body != `{"error":"slow down"}` || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("JSON body deny: %d %q %v", r.status, r.body, r.header)
			}

			// Failures: denied failing closed, skipped failing open. The
			// builtins of the OPA wasm runtime (to_number here) are
			// undefined on errors, where topdown fails.
			builtinReason := "evaluation failed"
			if engine != policy.EngineTopdown {
				builtinReason = "decision is undefined"
			}
			for _, tc := range []struct{ path, reason string }{
				{"/undefined", "decision is undefined"},
				{"/conflict", "conflicting decisions"},
				{"/builtin", builtinReason},
			} {
				r := do(t, "GET", url+tc.path, "", "x-n", "abc")
				want := 403
				if fail == "open" {
					want = 200
				}
				if r.status != want {
					t.Errorf("%s: status %d, want %d (%s)", tc.path, r.status, want, r.body)
				}
				if !strings.Contains(logs.String(), tc.reason) || !strings.Contains(logs.String(), `authz`) {
					t.Errorf("%s: no log line naming the policy and %q:\n%s", tc.path, tc.reason, logs.String())
				}
			}
		})
	}
}

func TestE2EBody(t *testing.T) {
	for _, engine := range e2eEngines {
		t.Run(engine, func(t *testing.T) { testE2EBody(t, engine) })
	}
}

func testE2EBody(t *testing.T, engine string) {
	url, logs := e2e(t, engine, `
  policy "body" {
    files        = ["body.rego"]
    include_body = true
    max_body     = 1024
  }`, map[string]string{"body.rego": `package wasmgate.authz

default decision := false

decision if input.request.method == "GET"

decision if input.request.body.amount < 100
`})
	// A request without a body is judged (the body is known to be empty).
	if r := do(t, "GET", url+"/", ""); r.status != 200 {
		t.Errorf("GET without body: %d %s", r.status, r.body)
	}
	// Larger than max_body: 413 from its declared length.
	if r := do(t, "POST", url+"/", strings.Repeat("x", 2000), "content-type", "application/json"); r.status != 413 {
		t.Errorf("oversized body: %d %s", r.status, r.body)
	}
	// The front end buffers bodies up to max_body for the policy, and the
	// upstream still gets the body it was judged on.
	r := do(t, "POST", url+"/", `{"amount": 5}`, "content-type", "application/json")
	if r.status != 200 || r.echo.BodyBytes != int64(len(`{"amount": 5}`)) {
		t.Errorf("allowed JSON body: %d %s (upstream got %d bytes)\n%s", r.status, r.body, r.echo.BodyBytes, logs.String())
	}
	if r := do(t, "POST", url+"/", `{"amount": 500}`, "content-type", "application/json"); r.status != 403 {
		t.Errorf("denied JSON body: %d %s", r.status, r.body)
	}
	// A chunked body (no declared length) is buffered too.
	req, _ := http.NewRequest("POST", url+"/", io.MultiReader(strings.NewReader(`{"amount": 7}`)))
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("allowed chunked JSON body: %d", resp.StatusCode)
	}
	// Malformed JSON is a clear deny, not a crash.
	if r := do(t, "POST", url+"/", `{"amount": `, "content-type", "application/json"); r.status != 400 {
		t.Errorf("malformed JSON body: %d %s", r.status, r.body)
	}
	// A chunked body over max_body: 413.
	req, _ = http.NewRequest("POST", url+"/", io.MultiReader(strings.NewReader(strings.Repeat("x", 2000))))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("oversized chunked body: %d", resp.StatusCode)
	}
}

func TestE2EDecisionLog(t *testing.T) {
	for _, engine := range e2eEngines {
		t.Run(engine, func(t *testing.T) { testE2EDecisionLog(t, engine) })
	}
}

func testE2EDecisionLog(t *testing.T, engine string) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "decisions.log")
	url, _ := e2e(t, engine, fmt.Sprintf(`
  policy "authz" {
    files        = ["authz.rego"]
    decision_log = %q
  }`, logPath), map[string]string{"authz.rego": decisionPolicy})
	do(t, "GET", url+"/allow?token=s3cret&page=1", "", "authorization", "Bearer s3cret", "user-agent", "t")
	do(t, "GET", url+"/teapot", "")
	do(t, "GET", url+"/undefined", "")

	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []map[string]any
	raw, _ := io.ReadAll(f)
	if bytes.Contains(raw, []byte("s3cret")) {
		t.Errorf("the decision log holds a secret:\n%s", raw)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		entries = append(entries, e)
	}
	if len(entries) != 3 {
		t.Fatalf("%d entries, want 3:\n%s", len(entries), raw)
	}
	want := []struct {
		decision string
		status   float64
	}{{"allow", 0}, {"deny", 418}, {"deny", 403}}
	for i, w := range want {
		e := entries[i]
		if e["decision"] != w.decision || e["policy"] != "authz" || e["time"] == nil || e["request_id"] == nil ||
			e["duration_ns"] == nil {
			t.Errorf("entry %d: %v", i, e)
		}
		if st, _ := e["status"].(float64); st != w.status {
			t.Errorf("entry %d: status %v, want %v", i, e["status"], w.status)
		}
	}
	if entries[1]["reason"] != "teapot rule" || !strings.Contains(fmt.Sprint(entries[2]["error"]), "undefined") {
		t.Errorf("reasons: %v / %v", entries[1]["reason"], entries[2]["error"])
	}
	in, _ := entries[0]["input"].(map[string]any)
	req, _ := in["request"].(map[string]any)
	hdrs, _ := req["headers"].(map[string]any)
	if hdrs["authorization"] != "[REDACTED]" || hdrs["user-agent"] != "t" {
		t.Errorf("headers in the log: %v", hdrs)
	}
}

func TestCheckPointsAtRego(t *testing.T) {
	dir := t.TempDir()
	bad := "package wasmgate.authz\n\ndecision if {\n\tinput.request.method ==\n}\n"
	typeErr := "package wasmgate.authz\n\ndecision if {\n\tx := \"a\" + 1\n\tx > 0\n}\n"
	for name, content := range map[string]string{"bad.rego": bad, "type.rego": typeErr, "ok.rego": "package wasmgate.authz\n\ndecision := true\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, stage string
		want        []string
	}{
		{"syntax error", `policy "p" { files = ["bad.rego"] }`, []string{
			"Error: Rego syntax error",
			filepath.Join(dir, "bad.rego") + " line 5",
			"   5: }",
			`Policy "p" of chain "c"`,
		}},
		{"type error", `policy "p" { files = ["type.rego"] }`, []string{
			"Error: Rego type error",
			filepath.Join(dir, "type.rego") + " line 4",
			"   4: \tx := \"a\" + 1",
		}},
		{"bad query", `policy "p" {
  files = ["ok.rego"]
  query = "data.wasmgate.authz.decision ==="
}`, []string{
			"Error: Rego syntax error",
			"on test.hcl line 4",
			`query = "data.wasmgate.authz.decision ==="`,
			"the query:",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fmt.Sprintf("chain \"c\" {\n  %s\n}\n", tt.stage)
			cfg, diags := conf.Parse(map[string][]byte{"test.hcl": []byte(src)}, dir)
			if diags.HasErrors() {
				t.Fatalf("parse: %v", diags)
			}
			diags = gateway.Check(context.Background(), cfg, gateway.Options{})
			if !diags.HasErrors() {
				t.Fatal("no diagnostics")
			}
			var b strings.Builder
			if err := conf.WriteDiagnostics(&b, cfg.Files, diags); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("diagnostics lack %q:\n%s", w, b.String())
				}
			}
		})
	}
}
