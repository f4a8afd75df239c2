package conf

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// writeFiles creates files (name -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// mustNotFail fails t with the printed diagnostics if there are any.
func mustNotFail(t *testing.T, cfg *Config, diags hcl.Diagnostics) {
	t.Helper()
	if len(diags) > 0 {
		var b bytes.Buffer
		WriteDiagnostics(&b, cfg.Files, diags)
		t.Fatalf("unexpected diagnostics:\n%s", b.String())
	}
}

// withoutRanges returns a copy of cfg's values with every range and Files
// cleared, for comparison.
func withoutRanges(cfg *Config) *Config {
	out := &Config{}
	for _, l := range cfg.Listeners {
		c := *l
		c.DeclRange, c.AddressRange = hcl.Range{}, hcl.Range{}
		out.Listeners = append(out.Listeners, &c)
	}
	for _, u := range cfg.Upstreams {
		c := *u
		c.DeclRange = hcl.Range{}
		c.Endpoints = nil
		for _, e := range u.Endpoints {
			e.DeclRange = hcl.Range{}
			c.Endpoints = append(c.Endpoints, e)
		}
		out.Upstreams = append(out.Upstreams, &c)
	}
	for _, ch := range cfg.Chains {
		c := &Chain{Name: ch.Name}
		for _, s := range ch.Stages {
			st := *s
			st.DeclRange, st.ModuleRange, st.QueryRange = hcl.Range{}, hcl.Range{}, hcl.Range{}
			c.Stages = append(c.Stages, &st)
		}
		out.Chains = append(out.Chains, c)
	}
	return out
}

// defaultListener is a listener with every default and the given name and
// address.
func defaultListener(name, address string) *Listener {
	return &Listener{
		Name: name, Address: address, Protocol: "http",
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 610 * time.Second,
		MaxHeaderSize: 16 << 10, MaxBodySize: 1 << 30,
		HTTP2MaxConcurrentStreams: 250, HTTP2StreamWindow: 1 << 20, HTTP2ConnectionWindow: 4 << 20,
		QUIC: QUICAuto,
	}
}

// defaultUpstream is an upstream with every default and the given
// endpoints.
func defaultUpstream(name string, endpoints ...Endpoint) *Upstream {
	return &Upstream{
		Name: name, Balancer: "round_robin", Protocol: "http",
		Timeout: 30 * time.Second, ConnectTimeout: 5 * time.Second, IdleTimeout: 600 * time.Second,
		MaxConnections: 1024, Endpoints: endpoints,
		Retry: Retry{Attempts: 1, On: []string{"connect-failure"}},
	}
}

func TestParseValid(t *testing.T) {
	t.Setenv("WASMGATE_TEST_KEY", "s3cret")
	t.Setenv("WASMGATE_TEST_ADDR", "127.0.0.1:7070")
	t.Setenv("WASMGATE_TEST_EMPTY", "")

	tests := []struct {
		name  string
		files map[string]string // on disk under the base directory
		src   map[string]string // configuration sources
		want  func(dir string) *Config
	}{
		{
			name: "defaults",
			src: map[string]string{"a.hcl": `
listener "web" { address = "127.0.0.1:8080" }
upstream "api" {
  endpoint "127.0.0.1:9001" {}
}
chain "empty" {}
`},
			want: func(string) *Config {
				return &Config{
					Listeners: []*Listener{defaultListener("web", "127.0.0.1:8080")},
					Upstreams: []*Upstream{defaultUpstream("api", Endpoint{Address: "127.0.0.1:9001", Weight: 100})},
					Chains:    []*Chain{{Name: "empty"}},
				}
			},
		},
		{
			name: "null is absent",
			src: map[string]string{"a.hcl": `
listener "web" {
  address      = "127.0.0.1:8080"
  chain        = null
  idle_timeout = null
}
upstream "api" {
  balancer = null
  endpoint "127.0.0.1:9001" { weight = null }
  retry { on = null }
}
`},
			want: func(string) *Config {
				return &Config{
					Listeners: []*Listener{defaultListener("web", "127.0.0.1:8080")},
					Upstreams: []*Upstream{defaultUpstream("api", Endpoint{Address: "127.0.0.1:9001", Weight: 100})},
				}
			},
		},
		{
			name: "every attribute",
			src: map[string]string{"a.hcl": `
listener "web" {
  address             = ":8080"
  protocol            = "http"
  chain               = "default"
  upstream            = "api"
  read_header_timeout = "2s"
  idle_timeout        = "1m30s"
  max_header_size     = "32 KiB"
  max_body_size       = 1048576
  allow               = ["10.1.2.3/8", "::1", "2001:db8::/32"]
}
upstream "api" {
  balancer        = "weighted_round_robin"
  timeout         = "10s"
  connect_timeout = "500ms"
  idle_timeout    = "90s"
  max_connections = 10
  endpoint "10.0.0.1:80" { weight = 0 }
  endpoint "[2001:db8::1]:80" {}
  endpoint "api.internal:8080" { weight = 50 }
  retry {
    attempts = 3
    on       = ["reset", "5xx"]
  }
}
upstream "static" {
  endpoint "127.0.0.1:9002" {}
  retry { attempts = 0 }
}
upstream "never" {
  endpoint "127.0.0.1:9003" {}
  retry { on = [] }
}
chain "default" {
  filter "routing" { module = "builtin:routing" }
  policy "authz" {
    files        = ["policies/authz.rego", "$DIR/common.rego"]
    dir          = "policies"
    data         = ["policies/roles.json", "policies/cidrs.yaml"]
    query        = "data.example.allow"
    fail         = "open"
    include_body = true
    max_body     = "1MiB"
    decision_log = "decisions.log"
  }
  policy "quiet" {
    dir          = "policies"
    decision_log = "off"
    engine       = "rego"
  }
  policy "loud" {
    dir          = "policies"
    decision_log = "stderr"
  }
  filter "custom" {
    module = "filters/custom.wasm"
    fail   = "open"
  }
}
`},
			files: map[string]string{
				"policies/authz.rego": "package example\n",
				"filters/custom.wasm": "\x00asm",
				"common.rego":         "package common\n",
				"policies/roles.json": "{}",
				"policies/cidrs.yaml": "cidrs: []\n",
			},
			want: func(dir string) *Config {
				l := defaultListener("web", ":8080")
				l.Chain, l.Upstream = "default", "api"
				l.ReadHeaderTimeout, l.IdleTimeout = 2*time.Second, 90*time.Second
				l.MaxHeaderSize, l.MaxBodySize = 32<<10, 1<<20
				l.Allow = []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"),
					netip.MustParsePrefix("::1/128"),
					netip.MustParsePrefix("2001:db8::/32"),
				}
				api := &Upstream{
					Name: "api", Balancer: "weighted_round_robin", Protocol: "http",
					Timeout: 10 * time.Second, ConnectTimeout: 500 * time.Millisecond, IdleTimeout: 90 * time.Second,
					MaxConnections: 10,
					Endpoints: []Endpoint{
						{Address: "10.0.0.1:80", Weight: 0},
						{Address: "[2001:db8::1]:80", Weight: 100},
						{Address: "api.internal:8080", Weight: 50},
					},
					Retry: Retry{Attempts: 3, On: []string{"reset", "5xx"}},
				}
				static := defaultUpstream("static", Endpoint{Address: "127.0.0.1:9002", Weight: 100})
				static.Retry.Attempts = 0
				never := defaultUpstream("never", Endpoint{Address: "127.0.0.1:9003", Weight: 100})
				never.Retry.On = []string{}
				return &Config{
					Listeners: []*Listener{l},
					Upstreams: []*Upstream{api, static, never},
					Chains: []*Chain{{Name: "default", Stages: []*Stage{
						{Kind: StageFilter, Name: "routing", Module: "builtin:routing", Fail: FailClosed},
						{
							Kind: StagePolicy, Name: "authz", Query: "data.example.allow", Fail: FailOpen,
							Files:       []string{filepath.Join(dir, "policies", "authz.rego"), filepath.Join(dir, "common.rego")},
							Dir:         filepath.Join(dir, "policies"),
							Data:        []string{filepath.Join(dir, "policies", "roles.json"), filepath.Join(dir, "policies", "cidrs.yaml")},
							IncludeBody: true, MaxBody: 1 << 20,
							DecisionLog: filepath.Join(dir, "decisions.log"), Engine: EngineAuto,
						},
						{
							Kind: StagePolicy, Name: "quiet", Query: "data.wasmgate.authz.decision", Fail: FailClosed,
							Dir: filepath.Join(dir, "policies"), MaxBody: 64 << 10, Engine: EngineRego,
						},
						{
							Kind: StagePolicy, Name: "loud", Query: "data.wasmgate.authz.decision", Fail: FailClosed,
							Dir: filepath.Join(dir, "policies"), MaxBody: 64 << 10, DecisionLog: "stderr", Engine: EngineAuto,
						},
						{Kind: StageFilter, Name: "custom", Module: filepath.Join(dir, "filters", "custom.wasm"), Fail: FailOpen},
					}}},
				}
			},
		},
		{
			name: "functions and filter config",
			src: map[string]string{"sub/a.hcl": `
listener "web" {
  address = env("WASMGATE_TEST_ADDR")
  chain   = env("WASMGATE_TEST_UNSET_CHAIN", "default")
}
chain "default" {
  filter "object" {
    module = "builtin:auth"
    config = { type = "key", keys = { alice = env("WASMGATE_TEST_KEY") }, n = [1, 2.5, true, null] }
  }
  filter "string" {
    module = "builtin:routing"
    config = file("routes.json")
  }
  filter "encoded" {
    module = "builtin:headers"
    config = jsonencode({ empty = env("WASMGATE_TEST_EMPTY", "unused") })
  }
  filter "number" {
    module = "builtin:x"
    config = 42
  }
}
`},
			files: map[string]string{"sub/routes.json": `{"routes": []}` + "\n"},
			want: func(string) *Config {
				l := defaultListener("web", "127.0.0.1:7070")
				l.Chain = "default"
				return &Config{
					Listeners: []*Listener{l},
					Chains: []*Chain{{Name: "default", Stages: []*Stage{
						{Kind: StageFilter, Name: "object", Module: "builtin:auth", Fail: FailClosed,
							Config: `{"keys":{"alice":"s3cret"},"n":[1,2.5,true,null],"type":"key"}`},
						{Kind: StageFilter, Name: "string", Module: "builtin:routing", Fail: FailClosed,
							Config: `{"routes": []}` + "\n"},
						{Kind: StageFilter, Name: "encoded", Module: "builtin:headers", Fail: FailClosed,
							Config: `{"empty":""}`},
						{Kind: StageFilter, Name: "number", Module: "builtin:x", Fail: FailClosed, Config: `42`},
					}}},
				}
			},
		},
		{
			name: "files merge in name order",
			src: map[string]string{
				"b.hcl": `listener "b" { address = "127.0.0.1:8081" }`,
				"a.hcl": `listener "a" {
  address  = "127.0.0.1:8080"
  upstream = "api"
}`,
				"c/c.hcl": `upstream "api" {
  endpoint "127.0.0.1:9001" {}
}`,
			},
			want: func(string) *Config {
				a := defaultListener("a", "127.0.0.1:8080")
				a.Upstream = "api"
				return &Config{
					Listeners: []*Listener{a, defaultListener("b", "127.0.0.1:8081")},
					Upstreams: []*Upstream{defaultUpstream("api", Endpoint{Address: "127.0.0.1:9001", Weight: 100})},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			src := map[string][]byte{}
			for name, s := range tt.src {
				src[name] = []byte(strings.ReplaceAll(s, "$DIR", filepath.ToSlash(dir)))
			}
			cfg, diags := Parse(src, dir)
			mustNotFail(t, cfg, diags)
			if len(cfg.Files) != len(src) {
				t.Errorf("Files has %d entries, want %d", len(cfg.Files), len(src))
			}
			got, want := withoutRanges(cfg), tt.want(dir)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded config differs\ngot:  %s\nwant: %s", dump(got), dump(want))
			}
		})
	}
}

// dump prints a Config for failure messages.
func dump(c *Config) string {
	var b strings.Builder
	for _, l := range c.Listeners {
		fmt.Fprintf(&b, "\n  listener %+v", *l)
	}
	for _, u := range c.Upstreams {
		fmt.Fprintf(&b, "\n  upstream %+v", *u)
	}
	for _, ch := range c.Chains {
		fmt.Fprintf(&b, "\n  chain %q", ch.Name)
		for _, s := range ch.Stages {
			fmt.Fprintf(&b, "\n    stage %+v", *s)
		}
	}
	return b.String()
}

func TestRanges(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.wasm": ""})
	src := `listener "web" {
  address = "127.0.0.1:8080"
}
upstream "api" {
  endpoint "127.0.0.1:9001" {}
}
chain "c" {
  filter "f" {
    module = "m.wasm"
  }
}
`
	cfg, diags := Parse(map[string][]byte{"r.hcl": []byte(src)}, dir)
	mustNotFail(t, cfg, diags)
	tests := []struct {
		what      string
		rng       hcl.Range
		line, col int
	}{
		{"listener", cfg.Listeners[0].DeclRange, 1, 1},
		{"listener address", cfg.Listeners[0].AddressRange, 2, 13},
		{"upstream", cfg.Upstreams[0].DeclRange, 4, 1},
		{"endpoint", cfg.Upstreams[0].Endpoints[0].DeclRange, 5, 3},
		{"chain", cfg.Chains[0].DeclRange, 7, 1},
		{"stage", cfg.Chains[0].Stages[0].DeclRange, 8, 3},
		{"module", cfg.Chains[0].Stages[0].ModuleRange, 9, 14},
	}
	for _, tt := range tests {
		if tt.rng.Filename != "r.hcl" || tt.rng.Start.Line != tt.line || tt.rng.Start.Column != tt.col {
			t.Errorf("%s range = %s, want r.hcl:%d,%d", tt.what, tt.rng, tt.line, tt.col)
		}
	}
}

func TestLookups(t *testing.T) {
	cfg, diags := Parse(map[string][]byte{"a.hcl": []byte(`
listener "web" { address = "127.0.0.1:8080" }
upstream "api" {
  endpoint "127.0.0.1:9001" {}
}
chain "default" {}
`)}, "")
	mustNotFail(t, cfg, diags)
	if cfg.Listener("web") == nil || cfg.Upstream("api") == nil || cfg.Chain("default") == nil {
		t.Error("a declared name was not found")
	}
	if cfg.Listener("api") != nil || cfg.Upstream("web") != nil || cfg.Chain("nope") != nil {
		t.Error("an undeclared name was found")
	}
}
