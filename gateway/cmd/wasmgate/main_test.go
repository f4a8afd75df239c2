package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/filters"
	"github.com/wasmgate/wasmgate/gateway"
	"github.com/wasmgate/wasmgate/gateway/echo"
)

// TestMain lets the tests run this binary as the wasmgate command.
func TestMain(m *testing.M) {
	if os.Getenv("WASMGATE_TEST_MAIN") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestValidate(t *testing.T) {
	be, err := echo.Start("v", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	good := filepath.Join(t.TempDir(), "good.hcl")
	os.WriteFile(good, []byte(fmt.Sprintf(`listener "web" {
  address  = "127.0.0.1:0"
  protocol = "http"
  upstream = "api"
}
upstream "api" {
  endpoint %q {}
}
`, be.Addr())), 0o644)

	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderrRE []string
	}{
		{"valid", []string{"validate", good}, 0, "valid: 1 listener(s), 1 upstream(s), 0 chain(s)", nil},
		{"broken: file:line:col diagnostics with source", []string{"validate", "testdata/broken.hcl"}, 1, "", []string{
			`(?m)^Error: .*\n\n\s+on testdata/broken\.hcl line 4`,
			`upstream = "missing"`,
			`(?m)on testdata/broken\.hcl line 8`,
			`timeout = "5x"`,
		}},
		{"missing path", []string{"validate", "testdata/nope.hcl"}, 1, "", []string{`nope\.hcl`}},
		{"usage", []string{"validate"}, 2, "", []string{"usage"}},
		{"unknown command", []string{"frobnicate"}, 2, "", []string{`unknown command "frobnicate"`}},
		{"version", []string{"version"}, 0, "wasmgate dev", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.stdout)
			}
			for _, re := range tt.stderrRE {
				if !regexp.MustCompile(re).MatchString(errb.String()) {
					t.Errorf("stderr does not match %s:\n%s", re, errb.String())
				}
			}
		})
	}
}

func TestValidateAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := filepath.Join(t.TempDir(), "busy.hcl")
	os.WriteFile(p, []byte(fmt.Sprintf(`listener "web" {
  address  = %q
  protocol = "http"
}
`, ln.Addr().String())), 0o644)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"validate", p}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "busy.hcl line 2") {
		t.Fatalf("want a diagnostic at busy.hcl line 2:\n%s", errb.String())
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunDrainsOnSIGTERM runs the command as a real process, sends SIGTERM
// while a request is in flight, and expects the request to complete and the
// process to exit 0.
func TestRunDrainsOnSIGTERM(t *testing.T) {
	be, err := echo.Start("slow", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	addr := freePort(t)
	cfg := filepath.Join(t.TempDir(), "run.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`listener "web" {
  address  = %q
  protocol = "http"
  upstream = "api"
}
upstream "api" {
  endpoint %q {}
}
`, addr, be.Addr())), 0o644)

	cmd, logs := startRun(t, cfg)

	got := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		req.Header.Set("X-Echo-Delay", "700ms")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got <- resp.Status
	}()
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := <-got; st != "200 OK" {
		t.Fatalf("in-flight request: %s, want 200 OK", st)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit after draining")
	}
	var all []string
	for l := range logs {
		all = append(all, l)
	}
	if !strings.Contains(strings.Join(all, "\n"), `"msg":"stopped"`) {
		t.Fatalf("no 'stopped' log line:\n%s", strings.Join(all, "\n"))
	}
}

// startRun runs `wasmgate run -c cfg` as a process (killed at the end of
// the test) and waits for it to have started; logs carries its JSON log
// lines and closes when it exits.
func startRun(t *testing.T, cfg string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "run", "-c", cfg, "-log-format", "json")
	cmd.Env = append(os.Environ(), "WASMGATE_TEST_MAIN=1")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	waitFor(t, logs, `"msg":"wasmgate started"`)
	return cmd, logs
}

func waitFor(t *testing.T, logs <-chan string, needle string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-logs:
			if !ok {
				t.Fatalf("process exited before logging %s", needle)
			}
			if strings.Contains(l, needle) {
				return
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", needle)
		}
	}
}

// TestQuickstartValidates keeps the embedded quickstart loadable: its HCL,
// its routes and its built-in filters (when built) must all check out.
func TestQuickstartValidates(t *testing.T) {
	if raceEnabled {
		t.Skip("compiling Go-built WASM filters takes minutes under -race; make test runs this in its plain pass")
	}
	cfg, diags := conf.Parse(map[string][]byte{"quickstart.hcl": quickstartHCL}, t.TempDir())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, name := range []string{"routing", "auth", "headers"} {
		if _, ok := filters.Builtin(name); !ok {
			t.Skipf("builtin:%s is not built (run make filters)", name)
		}
	}
	if d := gateway.Check(context.Background(), cfg, gateway.Options{}); d.HasErrors() {
		var b bytes.Buffer
		_ = conf.WriteDiagnostics(&b, cfg.Files, d)
		t.Fatalf("quickstart does not validate:\n%s", b.String())
	}
}

// TestRunReloadsOnSIGHUP runs the command as a real process: SIGHUP with a
// broken config keeps the old one serving and shows as a failed load in
// the admin listener's metrics; SIGHUP with a good one applies it.
func TestRunReloadsOnSIGHUP(t *testing.T) {
	be, err := echo.Start("one", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	addr, admin := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "run.hcl")
	good := fmt.Sprintf(`listener "web" {
  address  = %q
  upstream = "api"
}
upstream "api" {
  endpoint %q {}
}
admin {
  address = %q
}
`, addr, be.Addr(), admin)
	if err := os.WriteFile(cfg, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, logs := startRun(t, cfg)
	metrics := func() string {
		t.Helper()
		resp, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	wantLines := func(lines ...string) {
		t.Helper()
		m := metrics()
		for _, l := range lines {
			if !strings.Contains(m, "\n"+l+"\n") {
				t.Fatalf("no line %q in /metrics:\n%s", l, m)
			}
		}
	}
	serves := func() {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	serves()
	wantLines(`wasmgate_config_loads_total{result="success"} 1`, `wasmgate_config_loads_total{result="failure"} 0`)

	if err := os.WriteFile(cfg, []byte(good+"listener \"broken\" {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, logs, `"msg":"reload rejected`)
	serves()
	wantLines(`wasmgate_config_loads_total{result="failure"} 1`, `wasmgate_config_last_load_successful 0`,
		`wasmgate_responses_total{listener="web",class="2xx"} 2`)

	if err := os.WriteFile(cfg, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, logs, `"msg":"configuration reloaded"`)
	serves()
	wantLines(`wasmgate_config_loads_total{result="success"} 2`, `wasmgate_config_last_load_successful 1`,
		`wasmgate_responses_total{listener="web",class="2xx"} 3`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}
