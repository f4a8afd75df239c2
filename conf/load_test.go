package conf

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b.hcl": `upstream "api" {
  endpoint "127.0.0.1:9001" {}
}
`,
		"a.hcl": `listener "web" {
  address  = "127.0.0.1:8080"
  upstream = "api"
}
`,
		".editor.hcl":      `this is not hcl {`,
		"notes.txt":        `nor this {`,
		"sub/nested.hcl":   `neither { this`,
		"sub.hcl/keep.hcl": `nor { this`,
	})
	cfg, diags := Load(dir)
	mustNotFail(t, cfg, diags)
	if len(cfg.Files) != 2 {
		t.Errorf("loaded %d files, want a.hcl and b.hcl", len(cfg.Files))
	}
	if len(cfg.Listeners) != 1 || len(cfg.Upstreams) != 1 || cfg.Listeners[0].Upstream != "api" {
		t.Errorf("got %d listeners and %d upstreams, want the merge of both files", len(cfg.Listeners), len(cfg.Upstreams))
	}
	if got, want := cfg.Listeners[0].DeclRange.Filename, filepath.Join(dir, "a.hcl"); got != want {
		t.Errorf("listener declared in %q, want %q", got, want)
	}
}

func TestLoadDirectoryDuplicateAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"10-web.hcl": `listener "web" {
  address = "127.0.0.1:8080"
}
`,
		"20-more.hcl": `# a second listener with the same name

listener "web" {
  address = "127.0.0.1:8081"
}
`,
	})
	cfg, diags := Load(dir)
	if len(diags) != 1 {
		t.Fatalf("got %d diagnostics, want 1: %v", len(diags), diags)
	}
	d := diags[0]
	second := filepath.Join(dir, "20-more.hcl")
	if d.Summary != "Duplicate listener name" || d.Subject.Filename != second || d.Subject.Start.Line != 3 {
		t.Errorf("got %q at %s, want the duplicate at %s:3", d.Summary, d.Subject, second)
	}
	if first := filepath.Join(dir, "10-web.hcl") + ":1,"; !strings.Contains(d.Detail, first) {
		t.Errorf("detail %q does not locate the first declaration %s", d.Detail, first)
	}
	var b bytes.Buffer
	if err := WriteDiagnostics(&b, cfg.Files, diags); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `3: listener "web" {`) {
		t.Errorf("printed diagnostics lack the source line:\n%s", b.String())
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"empty/readme.txt": "", "bad.hcl": "listener {"})
	tests := []struct {
		name, path, summary string
		files               int
	}{
		{"missing path", filepath.Join(dir, "nope.hcl"), "Failed to read configuration", 0},
		{"no hcl files", filepath.Join(dir, "empty"), "No configuration files", 0},
		{"syntax error", filepath.Join(dir, "bad.hcl"), "Unclosed configuration block", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := Load(tt.path)
			if cfg == nil || cfg.Files == nil {
				t.Fatal("Load returned no Config or no Files")
			}
			if !diags.HasErrors() || diags[0].Summary != tt.summary {
				t.Fatalf("got %v, want %q", diags, tt.summary)
			}
			if len(cfg.Files) != tt.files {
				t.Errorf("Files has %d entries, want %d", len(cfg.Files), tt.files)
			}
		})
	}
}

func TestLoadUnreadableFileStillParsesOthers(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root reads files regardless of permissions")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.hcl": `listener "web" {}`, "b.hcl": ""})
	if err := os.Chmod(filepath.Join(dir, "b.hcl"), 0); err != nil {
		t.Fatal(err)
	}
	cfg, diags := Load(dir)
	if !diags.HasErrors() || diags[0].Summary != "Failed to read configuration file" {
		t.Fatalf("got %v", diags)
	}
	if cfg.Files[filepath.Join(dir, "a.hcl")] == nil {
		t.Error("the readable file is missing from Files")
	}
}

func TestEnvAndFile(t *testing.T) {
	t.Setenv("WASMGATE_TEST_SET", "from-env")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"conf.d/name.txt": "from-file",
		"conf.d/bin.dat":  "\xff\xfe",
	})
	tests := []struct {
		expr, want, summary string
	}{
		{expr: `env("WASMGATE_TEST_SET")`, want: "from-env"},
		{expr: `env("WASMGATE_TEST_SET", "default")`, want: "from-env"},
		{expr: `env("WASMGATE_TEST_NOT_SET", "default")`, want: "default"},
		{expr: `file("name.txt")`, want: "from-file"},
		{expr: `file("../conf.d/name.txt")`, want: "from-file"},
		{expr: `file("` + filepath.ToSlash(filepath.Join(dir, "conf.d", "name.txt")) + `")`, want: "from-file"},
		{expr: `env("WASMGATE_TEST_NOT_SET")`, summary: "Invalid function argument"},
		{expr: `env()`, summary: "Not enough function arguments"},
		{expr: `file("bin.dat")`, summary: "Invalid function argument"},
		{expr: `file(".")`, summary: "Invalid function argument"},
		{expr: `file("nope.txt")`, summary: "Invalid function argument"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			src := "chain \"c\" {\n  filter \"f\" {\n    module = \"builtin:x\"\n    config = " + tt.expr + "\n  }\n}\n"
			cfg, diags := Parse(map[string][]byte{"conf.d/gateway.hcl": []byte(src)}, dir)
			if tt.summary != "" {
				if len(diags) != 1 || diags[0].Summary != tt.summary || diags[0].Subject.Start.Line != 4 {
					t.Fatalf("got %v, want one %q on line 4", diags, tt.summary)
				}
				return
			}
			mustNotFail(t, cfg, diags)
			if got := cfg.Chains[0].Stages[0].Config; got != tt.want {
				t.Errorf("config = %q, want %q", got, tt.want)
			}
		})
	}
}
