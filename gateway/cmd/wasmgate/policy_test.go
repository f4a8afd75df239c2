package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyTest(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return filepath.Dir(p)
	}
	pass := write("pass/p.rego", "package p\nallow if input.x == 1\n")
	write("pass/p_test.rego", "package p_test\nimport data.p\ntest_allow if p.allow with input as {\"x\": 1}\n")
	fail := write("fail/p.rego", "package p\nallow if input.x == 1\n")
	write("fail/p_test.rego", "package p_test\nimport data.p\ntest_allow if p.allow with input as {\"x\": 2}\n")
	broken := write("broken/p_test.rego", "package p_test\ntest_x if {\n")
	empty := write("empty/p.rego", "package p\n")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"shipped policies", []string{"policy", "test", "../../../policies"}, 0, "wasmgate policy test: ok", ""},
		{"pass", []string{"policy", "test", "-v", pass}, 0, "data.p_test.test_allow: PASS", ""},
		{"fail", []string{"policy", "test", fail}, 1, "data.p_test.test_allow: FAIL", "FAIL (0 passed, 1 failed"},
		{"filtered out", []string{"policy", "test", "-run", "nothing", pass}, 1, "no tests found", "FAIL"},
		{"broken", []string{"policy", "test", broken}, 1, "", "p_test.rego:3"},
		{"no tests", []string{"policy", "test", empty}, 1, "no tests found", ""},
		{"missing path", []string{"policy", "test", filepath.Join(dir, "nope")}, 1, "", "no such file"},
		{"no path", []string{"policy", "test"}, 2, "", "usage: wasmgate policy test"},
		{"no subcommand", []string{"policy"}, 2, "", "usage: wasmgate policy test"},
		{"bad flag", []string{"policy", "test", "-x", pass}, 2, "", "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
		})
	}
}
