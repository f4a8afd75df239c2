package conf

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/diags/*.golden")

// TestDiagnosticsGolden loads each testdata/diags/NAME.hcl and compares what
// WriteDiagnostics prints with NAME.golden. Every case must fail.
func TestDiagnosticsGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "diags", "*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no test cases")
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".hcl")
		t.Run(name, func(t *testing.T) {
			cfg, diags := Load(filepath.ToSlash(path))
			if !diags.HasErrors() {
				t.Fatalf("no error diagnostics")
			}
			var got bytes.Buffer
			if err := WriteDiagnostics(&got, cfg.Files, diags); err != nil {
				t.Fatal(err)
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
				t.Errorf("diagnostics differ from %s (run with -update to accept)\ngot:\n%s\nwant:\n%s", golden, got.Bytes(), want)
			}
		})
	}
}
