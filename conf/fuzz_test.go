package conf

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse or WriteDiagnostics panic, and
// that a configuration without errors is consistent.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "diags", "*.hcl"))
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, filepath.Join("examples", "full.hcl"))
	for _, path := range seeds {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags := Parse(map[string][]byte{"fuzz.hcl": src}, dir)
		if cfg == nil || cfg.Files == nil {
			t.Fatal("Parse returned no Config or no Files")
		}
		if err := WriteDiagnostics(io.Discard, cfg.Files, diags); err != nil {
			t.Fatal(err)
		}
		if diags.HasErrors() {
			return
		}
		for _, l := range cfg.Listeners {
			if l.Address == "" || l.Protocol != "http" ||
				l.Chain != "" && cfg.Chain(l.Chain) == nil || l.Upstream != "" && cfg.Upstream(l.Upstream) == nil {
				t.Errorf("inconsistent listener %+v", l)
			}
		}
		for _, u := range cfg.Upstreams {
			if len(u.Endpoints) == 0 || u.MaxConnections <= 0 || u.Timeout <= 0 {
				t.Errorf("inconsistent upstream %+v", u)
			}
		}
		for _, c := range cfg.Chains {
			for _, s := range c.Stages {
				if s.Kind == StageFilter && s.Module == "" || s.Kind == StagePolicy && len(s.Files) == 0 {
					t.Errorf("inconsistent stage %+v", s)
				}
			}
		}
	})
}
