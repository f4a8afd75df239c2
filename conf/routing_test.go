package conf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoutingJSONGolden loads each testdata/routing/NAME.hcl and compares
// RoutingJSON of every listener, indented, with NAME.golden.
func TestRoutingJSONGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "routing", "*.hcl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no test cases (%v)", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".hcl")
		t.Run(name, func(t *testing.T) {
			cfg, diags := Load(path)
			mustNotFail(t, cfg, diags)
			var got bytes.Buffer
			for _, l := range cfg.Listeners {
				doc, err := cfg.RoutingJSON(l.Name)
				if err != nil {
					t.Fatal(err)
				}
				got.WriteString("# listener " + l.Name + "\n")
				if err := json.Indent(&got, doc, "", "  "); err != nil {
					t.Fatal(err)
				}
				got.WriteString("\n")
			}
			golden := strings.TrimSuffix(path, ".hcl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("RoutingJSON differs from %s (run with -update to accept)\ngot:\n%s\nwant:\n%s", golden, got.Bytes(), want)
			}
		})
	}
}

// TestRoutingJSON checks the decoded routes and RoutingJSON's edge cases.
func TestRoutingJSON(t *testing.T) {
	src := `
listener "web" {
  address = "127.0.0.1:0"
}
upstream "api" {
  endpoint "127.0.0.1:9001" {}
}
`
	tests := []struct {
		name, routes, want string
	}{
		{"no routes", ``, `{"routes":[]}`},
		{"upstream shorthand", `route "r" { upstream = "api" }`, `{"routes":[{"name":"r","to":[{"upstream":"api","weight":1}]}]}`},
		{"empty match", `route "r" {
  match {}
  upstream = "api"
}`, `{"routes":[{"name":"r","match":[{}],"to":[{"upstream":"api","weight":1}]}]}`},
		{"other listener only", `listener "other" { address = "127.0.0.1:0" }
route "r" {
  listeners = ["other"]
  upstream  = "api"
}`, `{"routes":[]}`},
		{"redirect default status", `route "r" {
  redirect { scheme = "https" }
}`, `{"routes":[{"name":"r","redirect":{"scheme":"https","status":302}}]}`},
		{"weights from env", `route "r" {
  to { api = env("WASMGATE_TEST_UNSET_WEIGHT", 7) }
}`, `{"routes":[{"name":"r","to":[{"upstream":"api","weight":7}]}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := Parse(map[string][]byte{"gw.hcl": []byte(src + tc.routes)}, "")
			mustNotFail(t, cfg, diags)
			got, err := cfg.RoutingJSON("web")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	cfg, _ := Parse(map[string][]byte{"gw.hcl": []byte(src)}, "")
	if _, err := cfg.RoutingJSON("nope"); err == nil {
		t.Fatal("unknown listener: no error")
	}
}
