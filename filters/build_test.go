package filters

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// TestBuildFilters builds the embedded module (filters/builtin) exactly as
// `make filters` does, and each built-in filter as a module of its own
// (filters/NAME/cmd/NAME), into a temporary directory, and checks that
// each exports what a Proxy-Wasm 0.2.1 host needs. It skips when no Go
// toolchain is on PATH.
func TestBuildFilters(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipping: no go toolchain on PATH to build the filters with")
	}
	out := t.TempDir()
	rt := wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter())
	t.Cleanup(func() { rt.Close(context.Background()) })
	dirs := map[string]string{"builtin": "builtin"}
	for _, name := range Names() {
		dirs[name] = filepath.Join(name, "cmd", name)
	}
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			wasm := filepath.Join(out, name+".wasm")
			cmd := exec.Command(gobin, "build", "-buildmode=c-shared", "-trimpath", "-o", wasm, ".")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, b)
			}
			bin, err := os.ReadFile(wasm)
			if err != nil {
				t.Fatal(err)
			}
			mod, err := rt.CompileModule(context.Background(), bin)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			defer mod.Close(context.Background())
			var exports []string
			for n := range mod.ExportedFunctions() {
				exports = append(exports, n)
			}
			for _, want := range []string{"proxy_abi_version_0_2_1", "proxy_on_memory_allocate", "_initialize",
				"proxy_on_context_create", "proxy_on_configure", "proxy_on_request_headers"} {
				if !slices.Contains(exports, want) {
					t.Errorf("%s.wasm does not export %s (exports: %s)", name, want, strings.Join(exports, " "))
				}
			}
			for _, imp := range mod.ImportedFunctions() {
				if m, _, _ := imp.Import(); m != "env" && m != "wasi_snapshot_preview1" {
					t.Errorf("%s.wasm imports from module %q", name, m)
				}
			}
		})
	}
}

// TestBuiltin checks the embedded modules: each name either is built (a
// Wasm binary) or reports that `make filters` must run.
func TestBuiltin(t *testing.T) {
	if !slices.IsSorted(Names()) || len(Names()) != 3 {
		t.Fatalf("Names() = %q", Names())
	}
	for _, name := range Names() {
		b, ok := Builtin(name)
		_, err := Module(name)
		switch {
		case ok && (len(b) < 8 || string(b[:4]) != "\x00asm"):
			t.Errorf("builtin %s is not a Wasm binary", name)
		case ok && err != nil:
			t.Errorf("Module(%s): %v", name, err)
		case !ok && (err == nil || !strings.Contains(err.Error(), "builtin:"+name+" not built: run make filters")):
			t.Errorf("Module(%s) error = %v", name, err)
		}
	}
	if _, ok := Builtin("nope"); ok {
		t.Error("Builtin(nope) found")
	}
	if _, err := Module("nope"); err == nil || !strings.Contains(err.Error(), "not a built-in filter") {
		t.Errorf("Module(nope) error = %v", err)
	}
	if _, ok := Builtin("../dist/README"); ok {
		t.Error("Builtin escaped its names")
	}
}
