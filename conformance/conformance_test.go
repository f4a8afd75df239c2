package conformance

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// buildBinary builds wasmgate into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to build wasmgate: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wasmgate")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/wasmgate/wasmgate/gateway/cmd/wasmgate")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestConformance runs every embedded case against a freshly built binary
// and fails on any failing cell. Pending cases and unsupported protocols
// are reported but do not fail the test. CONFORMANCE_RUN selects cases by
// regular expression.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite starts processes; skipped with -short")
	}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := Run(ctx, Options{
		Binary:   bin,
		Run:      os.Getenv("CONFORMANCE_RUN"),
		WorkDir:  t.TempDir(),
		Progress: &progress,
	})
	if err != nil {
		var le *LoadError
		if asLoadError(err, &le) {
			var b bytes.Buffer
			_ = le.Suite.WriteDiagnostics(&b, le.Diags)
			t.Fatalf("case files:\n%s", b.String())
		}
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	if rep.Failed() {
		t.Errorf("%d conformance cell(s) failed", rep.Summary.Fail)
	}
	if rep.Summary.Pass == 0 {
		t.Errorf("no cell passed")
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
}
