package conf

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The example references filters/example.wasm and policies/authz.rego,
// which do not exist next to it (they would be fake, and a real module is
// built elsewhere). The test loads a copy of the example in a directory that
// has them, and checks that in place it fails only for those two files.

func TestExampleFull(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("examples", "full.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"full.hcl":             string(src),
		"filters/example.wasm": "\x00asm\x01\x00\x00\x00",
		"policies/authz.rego":  "package wasmgate.authz\n",
	})
	cfg, diags := Load(filepath.Join(dir, "full.hcl"))
	mustNotFail(t, cfg, diags)

	l := cfg.Listener("web")
	if l == nil || l.Address != "127.0.0.1:8080" || l.Chain != "default" || l.Upstream != "api" ||
		l.IdleTimeout != 610*time.Second || l.MaxHeaderSize != 16<<10 || len(l.Allow) != 2 {
		t.Errorf("listener: %+v", l)
	}
	u := cfg.Upstream("api")
	if u == nil || u.Balancer != "weighted_round_robin" || len(u.Endpoints) != 2 || u.Endpoints[1].Weight != 50 ||
		!reflect.DeepEqual(u.Retry, Retry{Attempts: 1, On: []string{"connect-failure"}}) {
		t.Errorf("upstream: %+v", u)
	}
	c := cfg.Chain("default")
	if c == nil || len(c.Stages) != 2 {
		t.Fatalf("chain: %+v", c)
	}
	f, p := c.Stages[0], c.Stages[1]
	if f.Kind != StageFilter || f.Module != filepath.Join(dir, "filters", "example.wasm") || f.Config != `{"greeting":"hello"}` {
		t.Errorf("filter: %+v", f)
	}
	if p.Kind != StagePolicy || !reflect.DeepEqual(p.Files, []string{filepath.Join(dir, "policies", "authz.rego")}) ||
		p.Query != "data.wasmgate.authz.decision" || p.Fail != FailClosed {
		t.Errorf("policy: %+v", p)
	}
}

func TestExampleFullInPlace(t *testing.T) {
	_, diags := Load(filepath.Join("examples", "full.hcl"))
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary)
	}
	want := []string{"Unreadable module", "Unreadable policy file"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want only %q", got, want)
	}
}

func ExampleParse() {
	src := []byte(`upstream "api" {
  balancer = "fastest"
  endpoint "127.0.0.1:9001" {}
}
`)
	cfg, diags := Parse(map[string][]byte{"gateway.hcl": src}, "")
	WriteDiagnostics(os.Stdout, cfg.Files, diags)
	// Output:
	// Error: Unknown balancer
	//
	//   on gateway.hcl line 2, in upstream "api":
	//    2:   balancer = "fastest"
	//                    ^^^^^^^^^
	//
	// "fastest" is not a balancer. Use one of: round_robin, weighted_round_robin,
	// least_conn, random, p2c, source_ip_hash.
}
