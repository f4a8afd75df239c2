package conformance

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// buildBinary builds wasmgate into a temporary directory, or returns
// $CONFORMANCE_BINARY when set (a binary built elsewhere).
func buildBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("CONFORMANCE_BINARY"); bin != "" {
		return bin
	}
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

func run(t *testing.T, opts Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	opts.WorkDir = t.TempDir()
	rep, err := Run(ctx, opts)
	if err != nil {
		var le *LoadError
		if errors.As(err, &le) {
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
	return rep
}

// TestConformance runs every embedded case against a freshly built binary
// and fails on any failing cell. Pending cases and unsupported protocols
// are reported but do not fail the test. CONFORMANCE_RUN selects cases by
// regular expression; CONFORMANCE_BINARY tests a prebuilt binary.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite starts processes; skipped with -short")
	}
	bin := buildBinary(t)

	t.Run("self-check", func(t *testing.T) {
		rep := run(t, Options{Binary: bin, Cases: os.DirFS("testdata/selfcheck"), Protocols: []string{H1}})
		want := map[string]Status{"passes": Pass, "fails": Fail, "pending": Pending, "fails-saw": Fail, "fails-no-response": Fail}
		reasons := map[string]string{
			"fails":             `step "wrong": status 200, want 418; upstream path "/x", want "/y"`,
			"fails-saw":         `step "unseen": backend a saw 0 matching request(s) within 200ms, want a matching request; it received 1: GET /x (host 127.0.0.1:`,
			"fails-no-response": `step "answered": got a response (status 200), want none`,
		}
		for _, c := range rep.Cases {
			cell := c.Cells[0]
			if cell.Status != want[c.Name] {
				t.Errorf("%s on h1: %s (%s), want %s", c.Name, cell.Status, cell.Reason, want[c.Name])
			}
			if want := reasons[c.Name]; want != "" && !strings.Contains(cell.Reason, want) {
				t.Errorf("%s: reason %q, want it to contain %q", c.Name, cell.Reason, want)
			}
			if c.Name == "pending" && cell.Detail != "passes now: remove pending" {
				t.Errorf("pending: detail %q", cell.Detail)
			}
			for _, other := range c.Cells[1:] {
				if other.Status != Skip {
					t.Errorf("%s on %s: %s, want skip (not selected)", c.Name, other.Protocol, other.Status)
				}
			}
		}
		if len(rep.Cases) != len(want) || rep.Summary.Fail != 3 || !rep.Failed() {
			t.Errorf("summary %+v over %d cases", rep.Summary, len(rep.Cases))
		}
		var js bytes.Buffer
		if err := rep.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(js.String(), `"status": "fail"`) {
			t.Errorf("JSON report lacks the failing cell:\n%s", js.String())
		}
	})

	t.Run("suite", func(t *testing.T) {
		rep := run(t, Options{Binary: bin, Run: os.Getenv("CONFORMANCE_RUN")})
		if rep.Failed() {
			t.Errorf("%d conformance cell(s) failed", rep.Summary.Fail)
		}
		if rep.Summary.Pass == 0 {
			t.Errorf("no cell passed")
		}
	})
}

// TestEmbeddedCasesLoad checks every shipped case file without running it.
func TestEmbeddedCasesLoad(t *testing.T) {
	s, diags := Load(Embedded(), DefaultDir)
	if diags.HasErrors() {
		var b bytes.Buffer
		_ = s.WriteDiagnostics(&b, diags)
		t.Fatalf("embedded cases:\n%s", b.String())
	}
	if len(s.Cases) < 20 {
		t.Fatalf("%d embedded cases", len(s.Cases))
	}
	for _, c := range s.Cases {
		if c.Source == "" || c.Behaviour == "" {
			t.Errorf("%s: missing source or behaviour", c.Name)
		}
		if !strings.HasSuffix(c.File, "/"+c.Name+".hcl") && !strings.HasSuffix(c.File, "/"+c.Name+"/"+CaseFileName) {
			t.Errorf("%s lives in %s; name the file after the case", c.Name, c.File)
		}
	}
}

// TestLoadDiagnostics checks that mistakes in case files are reported with
// their location.
func TestLoadDiagnostics(t *testing.T) {
	s, diags := Load(os.DirFS("testdata/bad"), ".")
	var b bytes.Buffer
	if err := s.WriteDiagnostics(&b, diags); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`on mistakes.hcl line 4`, `Unknown protocol`,
		`Unknown backend kind`,
		`Unsupported attribute`,              // backend.nope
		`Two bodies`, `Unsupported argument`, // nonsense = true
		`Bad status`, `distribution names "zz"`,
		`One case per file`, `on two.hcl line 1`,
		`on syntax.hcl line 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, out)
		}
	}
	if len(s.Cases) != 1 {
		t.Errorf("%d cases loaded", len(s.Cases))
	}
}

// TestPrepareConfig checks the protocol profile lands in every plain
// listener block and nowhere else, that TLS listeners get only the TLS
// profile, that redirecting listeners are left alone, and that configs
// with filter stages are spotted.
func TestPrepareConfig(t *testing.T) {
	cfg := "listener \"a\" {\n  address = \"x\"\n}\nupstream \"u\" {\n  endpoint \"e\" {}\n}\nlistener \"b\" {\n  address = \"y\"\n}\n" +
		"listener \"s\" {\n  address = \"z\"\n  protocol = \"https\"\n}\nlistener \"r\" {\n  address = \"w\"\n  redirect_https = \"s\"\n}\n"
	prof := Profile{Listener: `cert = "${tls.cert_file}"`, TLSListener: "h3 = true", TLS: true}
	rc, diags := prepareConfig(cfg, prof, vars{certs: certFiles{cert: "/c.pem"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := rc.text
	if strings.Count(got, `cert = "/c.pem"`) != 2 || strings.Contains(got, "endpoint \"e\" {}\ncert") || strings.Count(got, "h3 = true") != 1 {
		t.Fatalf("got:\n%s", got)
	}
	if !rc.tls["x"] || !rc.tls["y"] || !rc.tls["z"] || rc.tls["w"] || rc.wasm {
		t.Fatalf("tls %v, wasm %v", rc.tls, rc.wasm)
	}
	rc, diags = prepareConfig(cfg+"chain \"c\" {\n  filter \"f\" {\n    module = \"builtin:routing\"\n  }\n}\n", Profile{}, vars{})
	if diags.HasErrors() || !rc.wasm || rc.tls["x"] || !rc.tls["z"] {
		t.Fatalf("plain profile: tls %v, wasm %v, %v", rc.tls, rc.wasm, diags)
	}
}

// TestWebSocketFrames checks the runner's frame codec against itself at
// every length encoding.
func TestWebSocketFrames(t *testing.T) {
	for _, n := range []int{0, 5, 125, 126, 65535, 65536} {
		var b bytes.Buffer
		payload := bytes.Repeat([]byte{'x'}, n)
		if err := wsWriteFrame(&b, wsText, payload, true); err != nil {
			t.Fatal(err)
		}
		op, got, masked, err := wsReadFrame(bufio.NewReader(&b))
		if err != nil || op != wsText || !masked || !bytes.Equal(got, payload) {
			t.Fatalf("%d bytes: op %#x masked %v err %v, %d bytes back", n, op, masked, err, len(got))
		}
	}
	if got := wsAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept %q (RFC 6455 §1.3)", got)
	}
}

// TestSelect checks case selection by pattern.
func TestSelect(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, n := range []string{"alpha", "beta", "alphabet"} {
		fsys[n+".hcl"] = &fstest.MapFile{Data: []byte(`case "` + n + `" {
  behaviour = "b"
  source    = "s"
  config    = "listener \"w\" { address = \"${listener.w}\" }"
  step "s" {
    request {}
    expect {}
  }
}
`)}
	}
	s, diags := Load(fsys, ".")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got, err := s.Select("^alpha")
	if err != nil || len(got) != 2 {
		t.Fatalf("Select: %d cases, %v", len(got), err)
	}
	if _, err := s.Select("("); err == nil {
		t.Fatal("bad pattern accepted")
	}
}
