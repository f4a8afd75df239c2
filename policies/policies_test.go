package policies_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wasmgate/wasmgate/gateway/policy"
)

// TestRego runs every *_test.rego of the shipped policies.
func TestRego(t *testing.T) {
	var out strings.Builder
	rep, err := policy.Test(context.Background(), []string{"."}, policy.TestOptions{Output: &out, Verbose: testing.Verbose()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rego tests: %s\n%s", rep, out.String())
	if !rep.OK() {
		t.Fatalf("rego tests failed: %s\n%s", rep, out.String())
	}
	if rep.Passed < 20 {
		t.Errorf("only %d rego tests ran; some *_test.rego files were not found", rep.Passed)
	}
}
