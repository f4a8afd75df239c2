package wasmhost_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/wasmhost"
)

// Compatibility tests: the same small filter, written by hand against the
// raw Proxy-Wasm ABI in C, Rust and AssemblyScript (testdata/compat), and
// once with the AssemblyScript SDK, is built from source, loaded and driven
// as Envoy would drive it. The toolchains come from hack/wasm-toolchains.sh;
// a missing one skips its test, unless WASMHOST_COMPAT_REQUIRE is set (CI),
// which turns the skip into a failure.

// compatLang is one implementation of the compat filter.
type compatLang struct {
	name string // subtest name
	tag  string // what the filter puts in x-lang and x-denied-by
	src  string // source file under testdata/compat
	// tool finds the compiler: its command line for building src into out
	// (cwd for the command, argv) and a string naming its version for the
	// cache key; a non-empty skip says why it is unavailable.
	tool func(src, out string) (dir string, argv []string, version, skip string)
	// grows, if set, says why the filter's memory grows with the number of
	// requests (not the host's doing); else it must not.
	grows string
}

var compatLangs = []compatLang{
	{name: "C", tag: "c", src: "c/filter.c", tool: clangTool},
	{name: "Rust", tag: "rust", src: "rust/filter.rs", tool: rustcTool},
	{name: "AssemblyScript", tag: "as", src: "assemblyscript/filter.ts", tool: ascTool},
	{name: "AssemblyScriptSDK", tag: "as-sdk", src: "assemblyscript/sdk/filter.ts", tool: ascSDKTool,
		// It grows as much when the request has no x-deny header, where the
		// host allocates nothing in the guest, and although proxy_on_done,
		// proxy_on_log and proxy_on_delete all run: a leak in the SDK or in
		// the reference-counting runtime of assemblyscript 0.14.
		grows: "@solo-io/proxy-runtime 0.1.8 on assemblyscript 0.14 leaks tens of bytes per request"},
}

func compatLangNamed(tag string) compatLang {
	for _, l := range compatLangs {
		if l.tag == tag {
			return l
		}
	}
	panic("no compat language " + tag)
}

// toolOutput runs a toolchain query; "" on failure.
func toolOutput(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func clangTool(src, out string) (string, []string, string, string) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		return "", nil, "", "no clang in PATH"
	}
	const target = "--target=wasm32-wasi"
	if p := toolOutput(clang, target, "-print-prog-name=wasm-ld"); p == "" || !filepath.IsAbs(p) {
		if _, err := exec.LookPath("wasm-ld"); err != nil {
			return "", nil, "", "clang has no wasm-ld (lld)"
		}
	}
	if p := toolOutput(clang, target, "-print-file-name=libc.a"); !filepath.IsAbs(p) {
		return "", nil, "", "clang finds no wasm32-wasi libc (wasi-libc)"
	}
	if p := toolOutput(clang, target, "-print-libgcc-file-name"); p == "" {
		return "", nil, "", "clang prints no wasm32 runtime library"
	} else if _, err := os.Stat(p); err != nil {
		return "", nil, "", "no wasm32 compiler-rt builtins (libclang-rt-*-dev-wasm32): " + p
	}
	argv := []string{clang, target, "-mexec-model=reactor", "-O2", "-Wall", "-Wextra", "-Werror",
		"-Wl,--strip-all", "-o", out, src}
	return "", argv, toolOutput(clang, "--version"), ""
}

func rustcTool(src, out string) (string, []string, string, string) {
	// Debian's rustc ships the wasm32 standard library (libstd-rust-dev-wasm32);
	// a rustup rustc earlier in PATH often does not.
	cands := []string{os.Getenv("WASMHOST_RUSTC"), "/usr/bin/rustc"}
	if p, err := exec.LookPath("rustc"); err == nil {
		cands = append(cands, p)
	}
	for _, rustc := range cands {
		if rustc == "" {
			continue
		}
		sysroot := toolOutput(rustc, "--print", "sysroot")
		if sysroot == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(sysroot, "lib", "rustlib", "wasm32-unknown-unknown", "lib")); err != nil {
			continue
		}
		argv := []string{rustc, "--edition", "2021", "--crate-type", "cdylib", "--target", "wasm32-unknown-unknown",
			"-O", "-C", "strip=symbols", "-D", "warnings", "-o", out, src}
		return "", argv, toolOutput(rustc, "--version"), ""
	}
	return "", nil, "", "no rustc with the wasm32-unknown-unknown standard library (rustc + libstd-rust-dev-wasm32)"
}

// toolchainsDir is where hack/wasm-toolchains.sh puts the npm packages.
func toolchainsDir() string {
	if d := os.Getenv("WASMGATE_TOOLCHAINS"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "wasmgate-toolchains")
}

// npmTool returns the asc of the npm prefix dir and the versions of the
// packages there.
func npmTool(prefix string, pkgs ...string) (asc, version, skip string) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", "", "no node in PATH"
	}
	asc = filepath.Join(prefix, "node_modules", ".bin", "asc")
	if _, err := os.Stat(asc); err != nil {
		return "", "", "no " + asc
	}
	for _, p := range pkgs {
		b, err := os.ReadFile(filepath.Join(prefix, "node_modules", p, "package.json"))
		if err != nil {
			return "", "", "npm package " + p + " missing in " + prefix
		}
		version += string(b)
	}
	return asc, version, ""
}

func ascTool(src, out string) (string, []string, string, string) {
	asc, version, skip := npmTool(filepath.Join(toolchainsDir(), "as"), "assemblyscript")
	if skip != "" {
		return "", nil, "", skip
	}
	argv := []string{asc, src, "-o", out, "-O3", "--runtime", "incremental", "--use", "abort="}
	return "", argv, version, ""
}

func ascSDKTool(src, out string) (string, []string, string, string) {
	prefix := filepath.Join(toolchainsDir(), "as-sdk")
	asc, version, skip := npmTool(prefix, "assemblyscript", "@solo-io/proxy-runtime")
	if skip != "" {
		return "", nil, "", skip
	}
	// --baseDir: the SDK import resolves from the prefix's node_modules.
	argv := []string{asc, src, "-b", out, "-O", "--use", "abort=abort_proc_exit", "--baseDir", prefix}
	return prefix, argv, version, ""
}

var compatBuilt sync.Map // tag -> []byte, built once per process

// buildCompat builds the compat filter of l, or skips. Builds are cached
// under the temp dir keyed by the source, the command line and the compiler
// version.
func buildCompat(t testing.TB, l compatLang) []byte {
	t.Helper()
	if b, ok := compatBuilt.Load(l.tag); ok {
		return b.([]byte)
	}
	src, err := filepath.Abs(filepath.Join("testdata", "compat", l.src))
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(os.TempDir(), "wasmhost-compat")
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(cacheDir, l.tag+".tmp"+strconv.Itoa(os.Getpid())+".wasm")
	dir, argv, version, skip := l.tool(src, tmp)
	if skip != "" {
		if os.Getenv("WASMHOST_COMPAT_REQUIRE") != "" {
			t.Fatalf("%s toolchain missing (WASMHOST_COMPAT_REQUIRE is set): %s", l.name, skip)
		}
		t.Skipf("%s toolchain missing: %s (install with hack/wasm-toolchains.sh)", l.name, skip)
	}
	h := sha256.New()
	args := strings.ReplaceAll(strings.Join(argv[1:], "\x00"), tmp, "OUT")
	for _, part := range [][]byte{code, []byte(args), []byte(version)} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	out := filepath.Join(cacheDir, l.tag+"-"+hex.EncodeToString(h.Sum(nil)[:12])+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		compatBuilt.Store(l.tag, b)
		return b
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	if err := cmd.Run(); err != nil {
		_ = os.Remove(tmp)
		t.Fatalf("building the %s compat filter: %v\n%s\n%s", l.name, err, strings.Join(argv, " "), output.String())
	}
	t.Logf("built %s compat filter in %v", l.name, time.Since(start).Round(time.Millisecond))
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	compatBuilt.Store(l.tag, b)
	return b
}

func TestCompat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds C, Rust and AssemblyScript wasm modules")
	}
	for _, l := range compatLangs {
		t.Run(l.name, func(t *testing.T) {
			testCompatFilter(t, l)
		})
	}
}

func testCompatFilter(t *testing.T, l compatLang) {
	wasm := buildCompat(t, l)
	e := newEnv(t)
	cfg := "cfg " + l.tag + " ✓" // raw bytes, not only ASCII
	p := e.load(t, wasmhost.PluginConfig{Name: "compat-" + l.tag, Wasm: wasm, PluginConfig: []byte(cfg)})
	ctx := context.Background()

	// Loading started one instance: proxy_on_configure ran once and logged.
	logLine := "compat " + l.tag + ": configured with " + cfg
	if n := strings.Count(e.logs.String(), logLine); n != 1 {
		t.Fatalf("log %q appears %d times, want 1; logs:\n%s", logLine, n, e.logs.String())
	}
	if !strings.Contains(e.logs.String(), "plugin=compat-"+l.tag) {
		t.Errorf("proxy_log output lacks the plugin attribute:\n%s", e.logs.String())
	}

	pass := func(t *testing.T, kv ...string) {
		t.Helper()
		s := newStream(kv...)
		c, a, err := requestHeaders(t, ctx, p, s)
		if err != nil || a != wasmhost.ActionContinue {
			t.Fatalf("request headers: %v, %v; want continue", a, err)
		}
		if got := s.req("x-lang"); got != l.tag {
			t.Errorf("request x-lang = %q, want %q; headers %v", got, l.tag, *s.maps[wasmhost.RequestHeaders])
		}
		s.respond("content-type", "text/plain")
		if a, err := c.OnResponseHeaders(ctx, true); err != nil || a != wasmhost.ActionContinue {
			t.Fatalf("response headers: %v, %v; want continue", a, err)
		}
		c.Done(ctx)
		want := headers{{":status", "200"}, {"content-type", "text/plain"}, {"x-configured", cfg}}
		if got := *s.maps[wasmhost.ResponseHeaders]; !slices.Equal(got, want) {
			t.Errorf("response headers = %q, want %q", got, want)
		}
		if s.local != nil {
			t.Errorf("unexpected local response %+v", s.local)
		}
	}
	deny := func(t *testing.T) {
		t.Helper()
		s := newStream("x-deny", "1")
		c, a, err := requestHeaders(t, ctx, p, s)
		if err != nil || a != wasmhost.ActionStop {
			t.Fatalf("request headers: %v, %v; want stop (local response)", a, err)
		}
		c.Done(ctx)
		want := wasmhost.LocalResponse{Status: 403, Details: "compat_denied", Body: []byte("denied"),
			Headers: [][2]string{{"x-denied-by", l.tag}}, GRPCStatus: -1}
		if s.local == nil || s.local.Status != want.Status || s.local.Details != want.Details ||
			string(s.local.Body) != string(want.Body) || !slices.Equal(s.local.Headers, want.Headers) ||
			s.local.GRPCStatus != want.GRPCStatus {
			t.Fatalf("local response = %+v, want %+v", s.local, want)
		}
		if got := s.req("x-lang"); got != "" {
			t.Errorf("denied request got x-lang %q", got)
		}
	}

	t.Run("no x-deny", func(t *testing.T) { pass(t) })
	t.Run("x-deny other value", func(t *testing.T) { pass(t, "x-deny", "0") })
	t.Run("x-deny 1", deny)
	t.Run("many requests", func(t *testing.T) {
		// The filter frees what the host allocates in it: memory must not
		// grow with the number of requests (deterministic, not timed).
		for range 100 {
			pass(t, "x-deny", "no")
			deny(t)
		}
		before := wasmhost.InstanceMemoryBytes(p)
		for range 1000 {
			pass(t, "x-deny", "no")
			deny(t)
		}
		after := wasmhost.InstanceMemoryBytes(p)
		if l.grows != "" {
			t.Logf("instance memory %v -> %v bytes over 2000 requests: %s", before, after, l.grows)
		} else if !slices.Equal(before, after) {
			t.Errorf("instance memory grew from %v to %v bytes over 2000 requests", before, after)
		}
		if strings.Count(e.logs.String(), logLine) != 1 {
			t.Errorf("proxy_on_configure ran again (instance replaced?); logs:\n%s", e.logs.String())
		}
	})
}

// BenchmarkCompatC: one request round trip (context create, request headers
// reading one header and adding one, response headers adding one, done)
// through the C compat filter.
func BenchmarkCompatC(b *testing.B) {
	wasm := buildCompat(b, compatLangNamed("c"))
	for _, m := range deadlineModes {
		b.Run(m.name, func(b *testing.B) {
			e := newEnv(b)
			cfg := m.cfg
			cfg.Name, cfg.Wasm, cfg.PluginConfig = "compat-c", wasm, []byte("bench")
			p := e.load(b, cfg)
			ctx := context.Background()
			s := &stream{props: map[string]string{}}
			var reqH, respH headers
			b.ReportAllocs()
			for b.Loop() {
				reqH = append(reqH[:0], [2]string{":method", "GET"}, [2]string{":path", "/"},
					[2]string{":authority", "example.com"}, [2]string{"x-deny", "0"})
				respH = append(respH[:0], [2]string{":status", "200"})
				s.maps[wasmhost.RequestHeaders], s.maps[wasmhost.ResponseHeaders] = &reqH, &respH
				c, err := p.NewHTTPContext(ctx, s)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.OnRequestHeaders(ctx, true); err != nil {
					b.Fatal(err)
				}
				if _, err := c.OnResponseHeaders(ctx, true); err != nil {
					b.Fatal(err)
				}
				c.Done(ctx)
			}
			if len(reqH) != 5 || len(respH) != 2 || respH[1][1] != "bench" {
				b.Fatalf("request %v, response %v", reqH, respH)
			}
		})
	}
}
