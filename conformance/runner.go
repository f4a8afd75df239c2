package conformance

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/wasmgate/wasmgate/gateway/echo"
)

//go:embed cases
var embedded embed.FS

// Embedded returns the suite's own cases: a file system whose "cases"
// directory holds them ([DefaultDir]).
func Embedded() fs.FS { return embedded }

// DefaultDir is the directory of [Embedded] that holds the cases.
const DefaultDir = "cases"

// Status is the outcome of one cell, a case run on one protocol.
type Status string

// Cell outcomes.
const (
	// Pass: every step met its expectations.
	Pass Status = "pass"
	// Fail: a step did not, or the gateway could not be started.
	Fail Status = "fail"
	// Skip: the cell did not run (see the cell's reason).
	Skip Status = "skip"
	// Pending: the case is marked pending; it ran, and its result is in
	// the cell's detail, but it counts as not passing and does not fail a
	// run.
	Pending Status = "pending"
)

// ReasonUnsupported is the skip reason of a protocol the binary under test
// does not support.
const ReasonUnsupported = "protocol not supported by this build"

// Profile says how a protocol is switched on in a case's config and reached
// by the runner's client.
type Profile struct {
	// Listener is HCL text added to every plain listener block of a case
	// config run on this protocol (one without a protocol or
	// redirect_https attribute). It may use ${tls.cert_file} and
	// ${tls.key_file}, a certificate for 127.0.0.1 and localhost that the
	// runner's client trusts.
	Listener string
	// TLSListener is HCL text added to every listener block that already
	// says protocol = "https" (a case about TLS itself).
	TLSListener string
	// TLS makes the client connect with TLS to listeners that got
	// Listener.
	TLS bool
	// NoClient, when not empty, says why the runner cannot speak this
	// protocol yet; such cells skip with this reason even when the binary
	// supports the protocol.
	NoClient string
}

// DefaultProfiles returns the listener settings of DESIGN.md §4 for each
// protocol: h1 is the plain listener as written; h2 adds TLS with HTTP/2;
// h3 adds HTTP/3 as well. Listeners that are TLS already only get the
// http2 / http3 switches; listeners with redirect_https or an explicit
// protocol = "http" are left alone.
func DefaultProfiles() map[string]Profile {
	const tlsBlock = `protocol = "https"
tls {
  certificate "conformance" {
    cert_file = "${tls.cert_file}"
    key_file  = "${tls.key_file}"
  }
}
`
	return map[string]Profile{
		H1: {},
		H2: {Listener: tlsBlock + "http2 = true\n", TLSListener: "http2 = true\n", TLS: true},
		H3: {Listener: tlsBlock + "http2 = true\nhttp3 = true\n", TLSListener: "http2 = true\nhttp3 = true\n", TLS: true},
	}
}

// Options configure [Run].
type Options struct {
	// Binary is the wasmgate executable under test; required.
	Binary string
	// Cases is the file system holding the cases; nil means [Embedded].
	Cases fs.FS
	// Dir is the case directory inside Cases; "" means [DefaultDir] when
	// Cases is nil and "." otherwise.
	Dir string
	// Run selects cases whose name matches this regular expression; ""
	// selects all.
	Run string
	// Protocols are the protocols to try, a subset of [AllProtocols]; nil
	// means all. Whether the binary supports each is detected by
	// validating a probe config with the protocol's profile.
	Protocols []string
	// Profiles override [DefaultProfiles] per protocol.
	Profiles map[string]Profile
	// CellTimeout bounds one cell; default 2 minutes.
	CellTimeout time.Duration
	// StartTimeout bounds the gateway's start-up; default 10 seconds.
	StartTimeout time.Duration
	// WorkDir is where temporary configs and certificates go; "" means
	// the system temporary directory.
	WorkDir string
	// Progress, when set, receives one line per finished cell.
	Progress io.Writer
	// NoWarmGateway starts a fresh gateway for every cell, also for
	// configs with WASM filters. By default those share one long-running
	// gateway that loads each cell's config with SIGHUP, because compiling
	// the built-in filters takes seconds per start.
	NoWarmGateway bool
}

// ProtocolSupport says whether a protocol ran, and why not.
type ProtocolSupport struct {
	// Protocol is h1, h2 or h3.
	Protocol string `json:"protocol"`
	// Supported is true when cells on this protocol run.
	Supported bool `json:"supported"`
	// Reason says why not, when not supported.
	Reason string `json:"reason,omitempty"`
}

// Cell is the result of one case on one protocol.
type Cell struct {
	// Protocol is h1, h2 or h3.
	Protocol string `json:"protocol"`
	// Status is the outcome.
	Status Status `json:"status"`
	// Reason explains a fail, skip or pending outcome in one line.
	Reason string `json:"reason,omitempty"`
	// Detail is further context: the gateway's output on a start-up
	// failure, or what a pending case's run found.
	Detail string `json:"detail,omitempty"`
	// Duration is how long the cell took.
	Duration Duration `json:"duration"`
}

// CaseResult is the row of one case.
type CaseResult struct {
	// Name is the case name.
	Name string `json:"name"`
	// Behaviour is what the case pins down.
	Behaviour string `json:"behaviour"`
	// Source is where the behaviour comes from.
	Source string `json:"source"`
	// File is the case file.
	File string `json:"file"`
	// Pending is the case's pending reason, if any.
	Pending string `json:"pending,omitempty"`
	// PendingOn holds pending reasons of single protocols.
	PendingOn map[string]string `json:"pending_on,omitempty"`
	// Cells are the results per protocol, in [AllProtocols] order.
	Cells []Cell `json:"cells"`
}

// Summary counts cells by outcome.
type Summary struct {
	// Pass, Fail, Skip and Pending count cells.
	Pass, Fail, Skip, Pending int
}

// Report is the result of a run.
type Report struct {
	// Binary is the executable under test and Version what it reports.
	Binary  string `json:"binary"`
	Version string `json:"version"`
	// Started is when the run began; Duration how long it took.
	Started  time.Time `json:"started"`
	Duration Duration  `json:"duration"`
	// Protocols says which protocols ran.
	Protocols []ProtocolSupport `json:"protocols"`
	// Cases are the selected cases in name order.
	Cases []CaseResult `json:"cases"`
	// Summary counts the cells.
	Summary Summary `json:"summary"`
}

// Failed reports whether any cell failed. Skipped and pending cells do not
// fail a run.
func (r *Report) Failed() bool { return r.Summary.Fail > 0 }

// LoadError is returned by [Run] when case files have mistakes.
type LoadError struct {
	// Suite holds the parsed files, for [Suite.WriteDiagnostics].
	Suite *Suite
	// Diags are the mistakes.
	Diags hcl.Diagnostics
}

// Error implements error.
func (e *LoadError) Error() string {
	return fmt.Sprintf("conformance cases: %s", e.Diags.Error())
}

// Run loads the cases, detects the protocols the binary supports and runs
// every selected case on every protocol, one cell at a time. It returns an
// error only when the run could not happen (bad options, bad case files,
// a binary that cannot validate a trivial config); failing cells are in
// the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Binary == "" {
		return nil, errors.New("conformance: Options.Binary is required")
	}
	fsys, dir := opts.Cases, opts.Dir
	if fsys == nil {
		fsys = Embedded()
		if dir == "" {
			dir = DefaultDir
		}
	}
	if dir == "" {
		dir = "."
	}
	suite, diags := Load(fsys, dir)
	if diags.HasErrors() {
		return nil, &LoadError{Suite: suite, Diags: diags}
	}
	cases, err := suite.Select(opts.Run)
	if err != nil {
		return nil, err
	}
	protos := opts.Protocols
	if protos == nil {
		protos = AllProtocols()
	}
	for _, p := range protos {
		if !slices.Contains(AllProtocols(), p) {
			return nil, fmt.Errorf("conformance: unknown protocol %q", p)
		}
	}
	profiles := DefaultProfiles()
	for p, prof := range opts.Profiles {
		profiles[p] = prof
	}
	if opts.CellTimeout <= 0 {
		opts.CellTimeout = 2 * time.Minute
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}

	work, err := os.MkdirTemp(opts.WorkDir, "wasmgate-conformance-")
	if err != nil {
		return nil, fmt.Errorf("conformance: work directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(work) }()
	certs, err := writeCertificate(work)
	if err != nil {
		return nil, fmt.Errorf("conformance: test certificate: %w", err)
	}

	r := &runner{opts: opts, fsys: suite.fsys, profiles: profiles, certs: certs, work: work}
	defer r.stopWarm()
	rep := &Report{Binary: opts.Binary, Started: time.Now()}
	rep.Version = binaryVersion(ctx, opts.Binary)
	supported := map[string]ProtocolSupport{}
	for _, p := range AllProtocols() {
		ps := ProtocolSupport{Protocol: p}
		switch {
		case !slices.Contains(protos, p):
			ps.Reason = "not selected"
		default:
			ok, why, err := r.probe(ctx, p)
			if err != nil {
				return nil, err
			}
			ps.Supported, ps.Reason = ok, why
		}
		supported[p] = ps
		rep.Protocols = append(rep.Protocols, ps)
	}

	for _, c := range cases {
		row := CaseResult{Name: c.Name, Behaviour: c.Behaviour, Source: c.Source, File: c.File, Pending: c.Pending, PendingOn: c.PendingOn}
		for _, p := range AllProtocols() {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("conformance: run interrupted: %w", err)
			}
			cell := r.cell(ctx, c, p, supported[p])
			row.Cells = append(row.Cells, cell)
			switch cell.Status {
			case Pass:
				rep.Summary.Pass++
			case Fail:
				rep.Summary.Fail++
			case Skip:
				rep.Summary.Skip++
			case Pending:
				rep.Summary.Pending++
			}
			if opts.Progress != nil && cell.Status != Skip {
				line := fmt.Sprintf("%-7s %-3s %s (%s)", strings.ToUpper(string(cell.Status)), p, c.Name, cell.Duration)
				if cell.Reason != "" && cell.Status != Pass {
					line += ": " + cell.Reason
				}
				fmt.Fprintln(opts.Progress, line)
			}
		}
		rep.Cases = append(rep.Cases, row)
	}
	rep.Duration = Duration(time.Since(rep.Started))
	return rep, nil
}

// runner holds what every cell of a run shares.
type runner struct {
	opts     Options
	fsys     fs.FS
	profiles map[string]Profile
	certs    certFiles
	work     string
	warm     *warmGateway // started by the first cell with WASM filters
}

// probe detects whether the binary speaks protocol p: it validates a small
// config with the protocol's profile, then serves it and sends one request
// with the protocol's client. A build whose configuration language already
// accepts a protocol that its listeners do not speak yet is unsupported too.
func (r *runner) probe(ctx context.Context, p string) (bool, string, error) {
	prof := r.profiles[p]
	const probeConfig = `listener "probe" {
  address  = "${listener.probe}"
  upstream = "probe"
}
upstream "probe" {
  endpoint "${backend.probe}" {}
}
`
	be, err := echo.Start("probe", "127.0.0.1:0")
	if err != nil {
		return false, "", fmt.Errorf("conformance: probe backend: %w", err)
	}
	defer closeEcho(be)
	addr, err := freePort()
	if err != nil {
		return false, "", err
	}
	v := r.vars(p, map[string]string{"probe": be.Addr()}, map[string]string{"probe": addr})
	tmpl, diags := hclsyntax.ParseTemplate([]byte(probeConfig), "probe", hcl.InitialPos)
	var rc *renderedConfig
	if !diags.HasErrors() {
		var val cty.Value
		val, diags = tmpl.Value(evalContext(v))
		if !diags.HasErrors() {
			rc, diags = prepareConfig(val.AsString(), prof, v)
		}
	}
	if diags.HasErrors() {
		return false, "", fmt.Errorf("conformance: %s profile: %w", p, diags)
	}
	file := filepath.Join(r.work, "probe-"+p+".hcl")
	if err := os.WriteFile(file, []byte(rc.text), 0o600); err != nil {
		return false, "", fmt.Errorf("conformance: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, r.opts.Binary, "validate", file).CombinedOutput()
	if err != nil {
		if p == H1 {
			return false, "", fmt.Errorf("conformance: %s cannot validate a plain HTTP/1.1 config: %w\n%s", r.opts.Binary, err, out)
		}
		return false, ReasonUnsupported, nil
	}
	if prof.NoClient != "" {
		return false, prof.NoClient, nil
	}
	gw, err := r.startGateway(cctx, file, map[string]string{"probe": addr}, "warn")
	if err != nil {
		if p == H1 {
			return false, "", fmt.Errorf("conformance: %s cannot serve a plain HTTP/1.1 config: %w", r.opts.Binary, err)
		}
		return false, ReasonUnsupported + " (the config is accepted but the gateway does not start)", nil
	}
	defer gw.stop()
	cl := newClient(p, r.certs, rc.tls)
	defer cl.close()
	resp, err := cl.send(cctx, addr, &requestHCL{})
	if err == nil && resp.proto != protoMajor(p) {
		err = fmt.Errorf("answered over HTTP/%d", resp.proto)
	}
	if err != nil {
		if p == H1 {
			return false, "", fmt.Errorf("conformance: %s does not answer HTTP/1.1: %w", r.opts.Binary, err)
		}
		return false, ReasonUnsupported + " (the config is accepted but the listener does not speak it)", nil
	}
	return true, "", nil
}

// protoMajor is the HTTP major version of a protocol name.
func protoMajor(p string) int {
	switch p {
	case H2:
		return 2
	case H3:
		return 3
	}
	return 1
}

func binaryVersion(ctx context.Context, bin string) string {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, bin, "version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func (r *runner) vars(p string, backends, listeners map[string]string) vars {
	v := vars{backends: backends, listeners: listeners, clientIP: "127.0.0.1",
		scheme: "http", version: "1.1", certs: r.certs}
	if r.profiles[p].TLS {
		v.scheme = "https"
	}
	switch p {
	case H2:
		v.version = "2"
	case H3:
		v.version = "3"
	}
	return v
}

// cell runs case c on protocol p.
func (r *runner) cell(ctx context.Context, c *Case, p string, ps ProtocolSupport) Cell {
	cell := Cell{Protocol: p}
	switch {
	case !slices.Contains(c.Protocols, p):
		cell.Status, cell.Reason = Skip, "case applies to "+strings.Join(c.Protocols, ", ")+" only"
		return cell
	case !ps.Supported:
		cell.Status, cell.Reason = Skip, ps.Reason
		return cell
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, r.opts.CellTimeout)
	err := r.exec(cctx, c, p)
	cancel()
	cell.Duration = Duration(time.Since(start).Round(time.Millisecond))
	var detail string
	var se *startError
	if errors.As(err, &se) {
		detail = se.output
		if notBuilt(se.output) != "" {
			cell.Status, cell.Reason = Skip, ReasonFiltersNotBuilt
			return cell
		}
	}
	switch {
	case c.pending(p) != "":
		cell.Status, cell.Reason = Pending, c.pending(p)
		if err == nil {
			cell.Detail = "passes now: remove pending"
		} else {
			cell.Detail = err.Error()
		}
	case err != nil:
		cell.Status, cell.Reason, cell.Detail = Fail, err.Error(), detail
	default:
		cell.Status = Pass
	}
	return cell
}

// ReasonFiltersNotBuilt is the skip reason of a case whose config uses a
// built-in filter that the binary under test was built without.
const ReasonFiltersNotBuilt = "built-in filters not built into this binary: run make filters, then rebuild"

var notBuiltRE = regexp.MustCompile(`builtin:[a-z0-9_-]+ not built`)

// notBuilt returns "builtin:NAME" when the gateway's output says that
// filter was not built into it, else "".
func notBuilt(output string) string {
	m := notBuiltRE.FindString(output)
	return strings.TrimSuffix(m, " not built")
}

// errBindRace is a start-up failure because a chosen free port was taken
// before the gateway bound it; the cell is retried with new ports.
var errBindRace = errors.New("listener port taken before the gateway bound it")

// startError is a gateway that did not start; output is what it printed.
type startError struct {
	err    error
	output string
}

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

func (r *runner) exec(ctx context.Context, c *Case, p string) error {
	for attempt := 1; ; attempt++ {
		err := r.attempt(ctx, c, p)
		if !errors.Is(err, errBindRace) || attempt == 3 {
			return err
		}
	}
}

// attempt starts the backends and the gateway on fresh ports and runs the
// steps.
func (r *runner) attempt(ctx context.Context, c *Case, p string) error {
	prof := r.profiles[p]
	var warm *warmGateway
	if c.wasm && !r.opts.NoWarmGateway {
		// Before the backends: a gateway that cannot start fails the
		// cell at once, and the first start compiles the filters.
		w, err := r.warmGateway(ctx)
		if err != nil {
			return err
		}
		warm = w
	}
	backends := map[string]string{}
	recorders := map[string]*recorder{}
	for _, b := range c.Backends {
		switch b.Kind {
		case BackendClosed:
			addr, err := freePort()
			if err != nil {
				return err
			}
			backends[b.Name] = addr
		case BackendWebSocket:
			srv, err := startWebSocketBackend(b.Name)
			if err != nil {
				return fmt.Errorf("backend %s: %w", b.Name, err)
			}
			defer srv.close()
			backends[b.Name] = srv.addr()
		default:
			srv, err := echo.Start(b.Name, "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("backend %s: %w", b.Name, err)
			}
			defer closeEcho(srv)
			backends[b.Name] = srv.Addr()
			if b.Recorded {
				rec, err := startRecorder(srv.Addr())
				if err != nil {
					return fmt.Errorf("backend %s: %w", b.Name, err)
				}
				defer rec.close()
				recorders[b.Name] = rec
				backends[b.Name] = rec.addr()
			}
		}
	}
	listeners := map[string]string{}
	for _, l := range c.Listeners {
		addr, err := freePort()
		if err != nil {
			return err
		}
		listeners[l] = addr
	}
	v := r.vars(p, backends, listeners)
	ectx := evalContext(v)
	text, diags := renderConfig(c, ectx)
	var rc *renderedConfig
	if !diags.HasErrors() {
		rc, diags = prepareConfig(text, prof, v)
	}
	if diags.HasErrors() {
		return fmt.Errorf("config: %w", diags)
	}

	var gw gatewayHandle
	if warm != nil {
		wc, err := warm.apply(ctx, c, r.fsys, rc.text)
		if err != nil {
			return err
		}
		gw = wc
	} else {
		dir, err := os.MkdirTemp(r.work, c.Name+"-"+p+"-")
		if err != nil {
			return fmt.Errorf("work directory: %w", err)
		}
		defer func() { _ = os.RemoveAll(dir) }()
		if c.dir != "" {
			if err := copyCaseDir(r.fsys, c.dir, dir); err != nil {
				return err
			}
		}
		cfgFile := filepath.Join(dir, "gateway.hcl")
		if err := os.WriteFile(cfgFile, []byte(rc.text), 0o600); err != nil {
			return fmt.Errorf("config: %w", err)
		}
		proc, err := r.startGateway(ctx, cfgFile, listeners, "warn")
		if err != nil {
			return err
		}
		defer proc.stop()
		gw = proc
	}

	cl := newClient(p, r.certs, rc.tls)
	defer cl.close()
	env := &stepEnv{listeners: listeners, recorders: recorders, c: c}
	for _, s := range c.steps {
		st, diags := decodeStep(c, s.body, ectx)
		if diags.HasErrors() {
			return fmt.Errorf("step %q: %w", s.name, diags)
		}
		if err := runStep(ctx, cl, st, env); err != nil {
			if exited := gw.exited(); exited != "" {
				return &startError{err: fmt.Errorf("step %q: %w (the gateway exited: %s)", s.name, err, exited), output: gw.output()}
			}
			return fmt.Errorf("step %q: %w", s.name, err)
		}
	}
	if exited := gw.exited(); exited != "" {
		return &startError{err: fmt.Errorf("the gateway exited during the case: %s", exited), output: gw.output()}
	}
	return nil
}

// gatewayHandle is what a cell needs of the gateway it talks to.
type gatewayHandle interface {
	exited() string
	output() string
}

// renderedConfig is a case config with the protocol's listener settings
// added.
type renderedConfig struct {
	text string
	// tls holds the addresses of the listeners that speak TLS.
	tls map[string]bool
	// wasm is set when a chain of the config has a filter stage: such a
	// config runs on the warm gateway, which compiles each module once.
	wasm bool
}

// prepareConfig adds the profile's text, rendered with v, before the
// closing brace of every top-level listener block of config: Listener to
// plain listeners, TLSListener to listeners that say protocol = "https".
// Listeners with redirect_https or protocol = "http" are left as written.
func prepareConfig(config string, prof Profile, v vars) (*renderedConfig, hcl.Diagnostics) {
	render := func(text string) (string, hcl.Diagnostics) {
		if strings.TrimSpace(text) == "" {
			return "", nil
		}
		tmpl, diags := hclsyntax.ParseTemplate([]byte(text), "profile", hcl.InitialPos)
		if diags.HasErrors() {
			return "", diags
		}
		val, diags := tmpl.Value(evalContext(v))
		if diags.HasErrors() {
			return "", diags
		}
		return "\n" + val.AsString() + "\n", nil
	}
	plain, diags := render(prof.Listener)
	if diags.HasErrors() {
		return nil, diags
	}
	secure, diags := render(prof.TLSListener)
	if diags.HasErrors() {
		return nil, diags
	}
	f, diags := hclsyntax.ParseConfig([]byte(config), "config", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	rc := &renderedConfig{tls: map[string]bool{}}
	type insertion struct {
		off  int
		text string
	}
	var ins []insertion
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		switch b.Type {
		case "chain":
			for _, sb := range b.Body.Blocks {
				if sb.Type == "filter" {
					rc.wasm = true
				}
			}
		case "listener":
			attrs := b.Body.Attributes
			addr := staticString(attrs["address"])
			proto, hasProto := attrs["protocol"]
			_, redirect := attrs["redirect_https"]
			switch {
			case redirect:
			case hasProto && staticString(proto) == "https":
				rc.tls[addr] = true
				ins = append(ins, insertion{b.CloseBraceRange.Start.Byte, secure})
			case hasProto:
			default:
				rc.tls[addr] = prof.TLS
				ins = append(ins, insertion{b.CloseBraceRange.Start.Byte, plain})
			}
		}
	}
	sort.Slice(ins, func(i, j int) bool { return ins[i].off > ins[j].off })
	out := config
	for _, in := range ins {
		out = out[:in.off] + in.text + out[in.off:]
	}
	rc.text = out
	return rc, nil
}

// staticString is the value of an attribute that is a literal string, or "".
func staticString(a *hclsyntax.Attribute) string {
	if a == nil {
		return ""
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

func copyCaseDir(fsys fs.FS, from, to string) error {
	return fs.WalkDir(fsys, from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, from), "/")
		if rel == "" || rel == CaseFileName {
			return nil
		}
		dst := filepath.Join(to, filepath.FromSlash(rel))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := fs.ReadFile(fsys, path.Clean(p))
		if err != nil {
			return fmt.Errorf("case file %s: %w", p, err)
		}
		return os.WriteFile(dst, b, 0o600)
	})
}

// closeEcho closes an echo backend, giving up after a few seconds: closed
// right after it started, a fasthttp server may never notice (its Serve
// had not registered the listener yet), and a stuck Close must not hang the
// run.
func closeEcho(srv *echo.Server) {
	done := make(chan struct{})
	go func() {
		_ = srv.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
}

// freePort returns a loopback address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	return addr, nil
}

// gatewayProc is a running wasmgate process.
type gatewayProc struct {
	cmd  *exec.Cmd
	out  logSink
	done chan struct{}
	err  error // set before done closes
}

// startGateway runs the binary on cfgFile with -log-level level and waits
// until every listener accepts connections.
func (r *runner) startGateway(ctx context.Context, cfgFile string, listeners map[string]string, level string) (*gatewayProc, error) {
	return r.startGatewayWithin(ctx, cfgFile, listeners, level, r.opts.StartTimeout)
}

func (r *runner) startGatewayWithin(ctx context.Context, cfgFile string, listeners map[string]string, level string, timeout time.Duration) (*gatewayProc, error) {
	var out logSink = &capBuffer{max: 64 << 10}
	if level != "warn" {
		out = &logWatch{max: 64 << 10}
	}
	cmd := exec.Command(r.opts.Binary, "run", "-c", cfgFile, "-log-level", level, "-drain", "1s")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = filepath.Dir(cfgFile)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", r.opts.Binary, err)
	}
	g := &gatewayProc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { g.err = cmd.Wait(); close(g.done) }()

	deadline := time.Now().Add(timeout)
	pending := make([]string, 0, len(listeners))
	for _, a := range listeners {
		pending = append(pending, a)
	}
	for len(pending) > 0 {
		select {
		case <-g.done:
			text := out.String()
			if strings.Contains(text, "address already in use") {
				return nil, errBindRace
			}
			return nil, &startError{err: fmt.Errorf("the gateway did not start (%v)%s", g.err, firstError(text)), output: text}
		case <-ctx.Done():
			g.stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			g.stop()
			return nil, &startError{err: fmt.Errorf("the gateway did not listen on %s within %s", strings.Join(pending, ", "), timeout), output: out.String()}
		}
		conn, err := net.DialTimeout("tcp", pending[0], 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			pending = pending[1:]
			continue
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A port taken by someone else answers dials too: make sure the
	// gateway is still alive.
	time.Sleep(20 * time.Millisecond)
	if ex := g.exited(); ex != "" {
		if strings.Contains(out.String(), "address already in use") {
			return nil, errBindRace
		}
		return nil, &startError{err: fmt.Errorf("the gateway did not start (%s)%s", ex, firstError(out.String())), output: out.String()}
	}
	return g, nil
}

// firstError returns ": " and the first "Error: ..." line of a gateway's
// output, or "".
func firstError(out string) string {
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "Error: ") || strings.Contains(line, "level=ERROR") {
			return ": " + line
		}
	}
	return ""
}

// exited returns "" while the process runs, else how it ended.
func (g *gatewayProc) exited() string {
	select {
	case <-g.done:
		if g.err == nil {
			return "exit status 0"
		}
		return g.err.Error()
	default:
		return ""
	}
}

func (g *gatewayProc) output() string { return g.out.String() }

// stop sends SIGTERM, then kills the process if it has not exited after a
// few seconds.
func (g *gatewayProc) stop() {
	if g.exited() != "" {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// capBuffer keeps the first max bytes written to it; safe for concurrent
// use.
type capBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *capBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
