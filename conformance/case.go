package conformance

import (
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Protocol names, as used in a case's protocols list, [Options.Protocols]
// and reports.
const (
	// H1 is HTTP/1.1 over TCP.
	H1 = "h1"
	// H2 is HTTP/2 over TLS, negotiated with ALPN.
	H2 = "h2"
	// H3 is HTTP/3 over QUIC.
	H3 = "h3"
)

// AllProtocols returns every protocol the suite knows, in report order.
func AllProtocols() []string { return []string{H1, H2, H3} }

// Backend kinds, the values of a backend block's kind attribute.
const (
	// BackendEcho is an echo backend (the default kind): it answers with a
	// JSON description of the request it received and obeys x-echo-*
	// request headers.
	BackendEcho = "echo"
	// BackendClosed is a loopback address nothing listens on: connecting
	// to it fails at once.
	BackendClosed = "closed"
	// BackendWebSocket is a WebSocket echo backend run by the runner
	// itself: it completes RFC 6455 handshakes and echoes every data
	// frame; other requests get 200 with X-Backend.
	BackendWebSocket = "websocket"
)

// CaseFileName is the file that holds the case in the folder form of a case
// (a directory whose other files are copied next to the rendered config).
const CaseFileName = "case.hcl"

// Case is one decoded conformance case.
type Case struct {
	// Name is the case block label, unique in the suite.
	Name string
	// Behaviour says, in one sentence, what the case pins down.
	Behaviour string
	// Source names where the behaviour comes from: a seed product's
	// documentation, an RFC section or a Gateway API conformance test.
	Source string
	// Pending, when not empty, says why the case cannot pass yet (a
	// feature not built). Its cells report pending and do not fail a run.
	Pending string
	// PendingOn holds pending reasons for some protocols only (pending =
	// { h3 = "why" }): a known gateway bug or missing feature on one
	// protocol must not hide the case on the others.
	PendingOn map[string]string
	// Protocols are the protocols the case applies to, in report order.
	Protocols []string
	// File is the case file's path inside the suite's file system.
	File string
	// Backends are the backend blocks in declaration order.
	Backends []Backend
	// Listeners are the listener names the config refers to as
	// listener.NAME, sorted; each gets a free loopback port.
	Listeners []string

	dir    string // folder-form case: the directory to copy, else ""
	wasm   bool   // the config has filter stages: it runs on the warm gateway
	config hcl.Expression
	cfgOff int // file line of the config template's first line, minus one
	steps  []stepSpec
}

// Backend is a backend block of a case.
type Backend struct {
	// Name is the block label; an echo backend reports it in X-Backend.
	Name string
	// Kind is BackendEcho, BackendClosed or BackendWebSocket.
	Kind string
	// Recorded is set when a step's expect block has a backend_saw block
	// for this backend: the runner records the requests it receives.
	Recorded bool
}

type stepSpec struct {
	name string
	body hcl.Body
	rng  hcl.Range
}

// Suite is a loaded set of cases with the files they came from.
type Suite struct {
	// Cases are the cases in file name order.
	Cases []*Case
	// Files holds every parsed case file by its name in diagnostics, for
	// [Suite.WriteDiagnostics].
	Files map[string]*hcl.File

	fsys fs.FS
}

// WriteDiagnostics prints diags the way HCL does, with source snippets.
func (s *Suite) WriteDiagnostics(w io.Writer, diags hcl.Diagnostics) error {
	var files map[string]*hcl.File
	if s != nil {
		files = s.Files
	}
	return hcl.NewDiagnosticTextWriter(w, files, 100, false).WriteDiagnostics(diags)
}

// Load reads the cases under dir in fsys: every *.hcl file is one case,
// and every directory holding a case.hcl is one case whose other files are
// copied next to the rendered config. Other entries are ignored. Load
// reports every mistake it finds as a diagnostic with file, line and column;
// the returned suite is usable only when the diagnostics have no errors.
func Load(fsys fs.FS, dir string) (*Suite, hcl.Diagnostics) {
	s := &Suite{Files: map[string]*hcl.File{}, fsys: fsys}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return s, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read the case directory",
			Detail:   err.Error(),
		}}
	}
	var diags hcl.Diagnostics
	seen := map[string]hcl.Range{}
	for _, e := range entries {
		var file, caseDir string
		switch {
		case e.IsDir():
			p := path.Join(dir, e.Name(), CaseFileName)
			if _, err := fs.Stat(fsys, p); err != nil {
				continue
			}
			file, caseDir = p, path.Join(dir, e.Name())
		case strings.HasSuffix(e.Name(), ".hcl"):
			file = path.Join(dir, e.Name())
		default:
			continue
		}
		c, ds := s.loadFile(file)
		diags = append(diags, ds...)
		if c == nil {
			continue
		}
		c.dir = caseDir
		if prev, dup := seen[c.Name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate case name",
				Detail:   fmt.Sprintf("A case named %q is already declared at %s.", c.Name, prev),
				Subject:  &hcl.Range{Filename: c.File, Start: hcl.InitialPos, End: hcl.InitialPos},
			})
			continue
		}
		seen[c.Name] = hcl.Range{Filename: c.File, Start: hcl.InitialPos, End: hcl.InitialPos}
		s.Cases = append(s.Cases, c)
	}
	return s, diags
}

// Select returns the cases whose name matches the regular expression
// pattern; an empty pattern selects every case.
func (s *Suite) Select(pattern string) ([]*Case, error) {
	if pattern == "" {
		return s.Cases, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("bad case pattern %q: %w", pattern, err)
	}
	var out []*Case
	for _, c := range s.Cases {
		if re.MatchString(c.Name) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *Suite) loadFile(name string) (*Case, hcl.Diagnostics) {
	src, err := fs.ReadFile(s.fsys, name)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read case file", Detail: err.Error(),
			Subject: &hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos}}}
	}
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	s.Files[name] = f
	if diags.HasErrors() {
		return nil, diags
	}
	cf, ds := decodeCaseFile(f.Body)
	diags = append(diags, ds...)
	fileRange := f.Body.MissingItemRange()
	if len(cf.Cases) != 1 {
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "One case per file",
			Detail:   fmt.Sprintf("A case file holds exactly one case block; this one holds %d.", len(cf.Cases)),
			Subject:  &fileRange,
		})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	c, ds := decodeCase(&cf.Cases[0], name)
	return c, append(diags, ds...)
}

var caseNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

func decodeCase(ch *caseHCL, file string) (*Case, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	errAt := func(r hcl.Range, summary, detail string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
			Detail: fmt.Sprintf(detail, args...), Subject: r.Ptr()})
	}
	c := &Case{Name: ch.Name, Behaviour: ch.Behaviour, Source: ch.Source, File: file, config: ch.Config}
	if !caseNameRE.MatchString(c.Name) {
		errAt(ch.DeclRange, "Bad case name", "Case names are lower-case letters, digits, '.', '_' and '-': %q.", c.Name)
	}
	if strings.TrimSpace(c.Behaviour) == "" {
		errAt(ch.DeclRange, "Missing behaviour", "Say in one sentence which behaviour the case pins down.")
	}
	if strings.TrimSpace(c.Source) == "" {
		errAt(ch.DeclRange, "Missing source", "Name the documented behaviour, RFC section or Gateway API test the case follows.")
	}
	for p, why := range ch.PendingOn {
		if !slices.Contains(AllProtocols(), p) {
			errAt(at(ch.Attrs, "pending", ch.DeclRange), "Unknown protocol", "pending names %q; want some of %s.", p, strings.Join(AllProtocols(), ", "))
		}
		if strings.TrimSpace(why) == "" {
			errAt(at(ch.Attrs, "pending", ch.DeclRange), "Empty pending reason", "pending says why the case cannot pass yet on %s; remove it when it can.", p)
		}
	}
	c.PendingOn = ch.PendingOn
	if ch.Pending != nil {
		c.Pending = *ch.Pending
		if strings.TrimSpace(c.Pending) == "" {
			errAt(at(ch.Attrs, "pending", ch.DeclRange), "Empty pending reason", "pending says why the case cannot pass yet; remove it when it can.")
		}
	}
	if ch.Protocols == nil {
		c.Protocols = AllProtocols()
	} else {
		for _, p := range ch.Protocols {
			if !slices.Contains(AllProtocols(), p) {
				errAt(at(ch.Attrs, "protocols", ch.DeclRange), "Unknown protocol", "protocols holds %q; want some of %s.", p, strings.Join(AllProtocols(), ", "))
			}
		}
		for _, p := range AllProtocols() {
			if slices.Contains(ch.Protocols, p) {
				c.Protocols = append(c.Protocols, p)
			}
		}
		if len(ch.Protocols) == 0 {
			errAt(at(ch.Attrs, "protocols", ch.DeclRange), "No protocols", "An empty protocols list runs nothing; remove the attribute to run on every protocol.")
		}
	}

	backends := map[string]bool{}
	for _, b := range ch.Backends {
		kind := BackendEcho
		if b.Kind != nil {
			kind = *b.Kind
		}
		if kind != BackendEcho && kind != BackendClosed && kind != BackendWebSocket {
			errAt(b.DeclRange, "Unknown backend kind", "kind is %q; want %q, %q or %q.", kind, BackendEcho, BackendClosed, BackendWebSocket)
		}
		if backends[b.Name] {
			errAt(b.DeclRange, "Duplicate backend", "A backend named %q is already declared in this case.", b.Name)
		}
		backends[b.Name] = true
		c.Backends = append(c.Backends, Backend{Name: b.Name, Kind: kind})
	}

	// Listeners are whatever the config refers to as listener.NAME.
	ls := map[string]bool{}
	for _, tr := range ch.Config.Variables() {
		if tr.RootName() != "listener" || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); ok {
			ls[a.Name] = true
		}
	}
	for n := range ls {
		c.Listeners = append(c.Listeners, n)
	}
	sort.Strings(c.Listeners)
	if len(c.Listeners) == 0 {
		errAt(ch.Config.Range(), "No listener", `The config must place at least one listener at "${listener.NAME}".`)
	}

	// Render the config with placeholder addresses: unknown references and
	// HCL syntax errors in the fragment surface now, not at run time.
	ctx := evalContext(placeholderVars(c))
	if tmpl, ok := ch.Config.(*hclsyntax.TemplateExpr); ok && len(tmpl.Parts) > 0 {
		c.cfgOff = tmpl.Parts[0].Range().Start.Line - 1
	} else {
		c.cfgOff = ch.Config.Range().Start.Line - 1
	}
	if text, ds := renderConfig(c, ctx); ds.HasErrors() {
		diags = append(diags, ds...)
	} else if _, ds := parseRendered(c, text); ds.HasErrors() {
		diags = append(diags, ds...)
	} else if rc, ds := prepareConfig(text, Profile{}, placeholderVars(c)); !ds.HasErrors() {
		c.wasm = rc.wasm
	}

	if len(ch.Steps) == 0 {
		errAt(ch.DeclRange, "No steps", "A case needs at least one step block with a request and an expect block.")
	}
	stepNames := map[string]bool{}
	raw, ws := false, false
	for _, sh := range ch.Steps {
		if stepNames[sh.Name] {
			errAt(sh.DeclRange, "Duplicate step", "A step named %q is already declared in this case.", sh.Name)
		}
		stepNames[sh.Name] = true
		st, ds := decodeStep(c, sh.Body, ctx)
		diags = append(diags, ds...)
		if st != nil && st.Request.Raw != nil {
			raw = true
		}
		if st != nil && st.Request.WebSocket != nil {
			ws = true
		}
		if st != nil {
			for _, saw := range st.Expect.Saw {
				for i := range c.Backends {
					if c.Backends[i].Name == saw.Backend {
						c.Backends[i].Recorded = true
					}
				}
			}
		}
		c.steps = append(c.steps, stepSpec{name: sh.Name, body: sh.Body, rng: sh.DeclRange})
	}
	if raw && !slices.Equal(c.Protocols, []string{H1}) {
		errAt(ch.DeclRange, "Raw request needs h1 only", `A step sends raw HTTP/1.1 bytes: set protocols = ["h1"].`)
	}
	if ws && !slices.Equal(c.Protocols, []string{H1}) {
		errAt(ch.DeclRange, "WebSocket needs h1 only", `A step opens a WebSocket with an HTTP/1.1 Upgrade: set protocols = ["h1"].`)
	}
	return c, diags
}

// decodeStep decodes and checks one step body under ctx.
func decodeStep(c *Case, body hcl.Body, ctx *hcl.EvalContext) (*stepBodyHCL, hcl.Diagnostics) {
	st, diags := decodeStepBody(body, ctx)
	errAt := func(r hcl.Range, summary, detail string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
			Detail: fmt.Sprintf(detail, args...), Subject: r.Ptr()})
	}
	rq, ex := &st.Request, &st.Expect
	if rq.Raw != nil && (rq.Method != nil || rq.Path != nil || rq.Authority != nil || rq.Headers != nil ||
		rq.Body != nil || rq.BodySize != nil || rq.Chunked != nil) {
		errAt(at(rq.Attrs, "raw", rq.DeclRange), "Raw request with fields", "raw is the whole request: drop method, path, authority, headers and body attributes.")
	}
	if rq.WebSocket != nil && (rq.Raw != nil || rq.Body != nil || rq.BodySize != nil || rq.Chunked != nil || rq.Method != nil) {
		errAt(at(rq.Attrs, "websocket", rq.DeclRange), "WebSocket with a body", "websocket sends a GET Upgrade request and then the message: drop method and body attributes.")
	}
	if rq.ClientCert != nil && *rq.ClientCert != "trusted" && *rq.ClientCert != "untrusted" && *rq.ClientCert != "none" {
		errAt(at(rq.Attrs, "client_cert", rq.DeclRange), "Unknown client certificate", `client_cert is %q; want "trusted" (signed by ${tls.ca_file}), "untrusted" (self-signed) or "none".`, *rq.ClientCert)
	}
	if rq.Raw != nil && (rq.SNI != nil || rq.ClientCert != nil) {
		errAt(at(rq.Attrs, "raw", rq.DeclRange), "Raw request over TLS", "Raw requests go over plain TCP: drop sni and client_cert.")
	}
	if rq.Body != nil && rq.BodySize != nil {
		errAt(at(rq.Attrs, "body_size", rq.DeclRange), "Two bodies", "Set body or body_size, not both.")
	}
	if rq.BodySize != nil && *rq.BodySize < 0 {
		errAt(at(rq.Attrs, "body_size", rq.DeclRange), "Negative body size", "body_size is %d.", *rq.BodySize)
	}
	if rq.Repeat != nil && (*rq.Repeat < 1 || *rq.Repeat > 10000) {
		errAt(at(rq.Attrs, "repeat", rq.DeclRange), "Bad repeat", "repeat is %d; want 1..10000.", *rq.Repeat)
	}
	if rq.Listener != nil && !slices.Contains(c.Listeners, *rq.Listener) {
		errAt(at(rq.Attrs, "listener", rq.DeclRange), "Unknown listener", "The config places no listener at listener.%s.", *rq.Listener)
	}
	if rq.Listener == nil && len(c.Listeners) > 1 {
		errAt(rq.DeclRange, "Which listener?", "The config has several listeners (%s): set listener.", strings.Join(c.Listeners, ", "))
	}
	if rq.Method != nil && (*rq.Method == "" || strings.ContainsAny(*rq.Method, " \t\r\n")) {
		errAt(at(rq.Attrs, "method", rq.DeclRange), "Bad method", "method is %q.", *rq.Method)
	}
	if rq.Path != nil && !strings.HasPrefix(*rq.Path, "/") {
		errAt(at(rq.Attrs, "path", rq.DeclRange), "Bad path", "path must start with '/': %q.", *rq.Path)
	}
	for _, code := range ex.Status {
		if code < 100 || code > 599 {
			errAt(at(ex.Attrs, "status", ex.DeclRange), "Bad status", "status holds %d; want 100..599.", code)
		}
	}
	if ex.Backend != nil && !hasBackend(c, *ex.Backend) {
		errAt(at(ex.Attrs, "backend", ex.DeclRange), "Unknown backend", "No backend block is named %q.", *ex.Backend)
	}
	for name, share := range ex.Distribution {
		if !hasBackend(c, name) {
			errAt(at(ex.Attrs, "distribution", ex.DeclRange), "Unknown backend", "distribution names %q, which no backend block declares.", name)
		}
		if share < 0 {
			errAt(at(ex.Attrs, "distribution", ex.DeclRange), "Negative share", "distribution gives %q a negative weight.", name)
		}
	}
	if ex.Distribution == nil && ex.Tolerance != nil {
		errAt(at(ex.Attrs, "tolerance", ex.DeclRange), "Tolerance without distribution", "tolerance only applies to a distribution.")
	}
	if ex.Tolerance != nil && (*ex.Tolerance < 0 || *ex.Tolerance > 1) {
		errAt(at(ex.Attrs, "tolerance", ex.DeclRange), "Bad tolerance", "tolerance is a fraction of all requests, 0..1: %v.", *ex.Tolerance)
	}
	if ex.Within != nil {
		if d, err := time.ParseDuration(*ex.Within); err != nil || d <= 0 {
			errAt(at(ex.Attrs, "within", ex.DeclRange), "Bad duration", "within is %q; want a Go duration such as \"1500ms\".", *ex.Within)
		}
	}
	if (ex.ConnectionClosed != nil || ex.NothingAfter != nil) && rq.Raw == nil {
		errAt(ex.DeclRange, "Connection checks need raw", "connection_closed and nothing_after are checked on raw HTTP/1.1 requests only.")
	}
	if ex.ConnectionClosed != nil && ex.NothingAfter != nil {
		errAt(ex.DeclRange, "Two connection checks", "Set connection_closed or nothing_after, not both.")
	}
	if ex.NoResponse != nil && *ex.NoResponse && (ex.Status != nil || ex.Headers != nil || ex.HeadersPresent != nil ||
		ex.HeadersAbsent != nil || ex.BodyContains != nil || ex.BodySize != nil || ex.Backend != nil || ex.Upstream != nil ||
		ex.ServerCert != nil || ex.Distribution != nil) {
		errAt(ex.DeclRange, "Expectations on no response", "no_response = true expects the request to fail: drop the response checks.")
	}
	if ex.ServerCert != nil && *ex.ServerCert != CertDefault && *ex.ServerCert != CertAlt {
		errAt(at(ex.Attrs, "server_certificate", ex.DeclRange), "Unknown certificate", "server_certificate is %q; want %q (${tls.cert_file}) or %q (${tls.alt_cert_file}).", *ex.ServerCert, CertDefault, CertAlt)
	}
	for _, saw := range ex.Saw {
		switch {
		case !hasBackend(c, saw.Backend):
			errAt(saw.DeclRange, "Unknown backend", "No backend block is named %q.", saw.Backend)
		case backendKind(c, saw.Backend) != BackendEcho:
			errAt(saw.DeclRange, "Not an echo backend", "backend_saw records requests of echo backends; %q is %s.", saw.Backend, backendKind(c, saw.Backend))
		}
		if saw.Count != nil && (*saw.Count < 0 || *saw.Count > 10000) {
			errAt(at(saw.Attrs, "count", saw.DeclRange), "Bad count", "count is %d; want 0..10000.", *saw.Count)
		}
		if saw.Within != nil {
			if d, err := time.ParseDuration(*saw.Within); err != nil || d <= 0 || d > time.Minute {
				errAt(at(saw.Attrs, "within", saw.DeclRange), "Bad duration", "within is %q; want a Go duration up to 1m.", *saw.Within)
			}
		}
	}
	if rq.Raw != nil && (ex.Upstream != nil || ex.Distribution != nil || ex.BodySize != nil) {
		errAt(ex.DeclRange, "Unsupported on raw", "A raw request checks status, headers, body_contains, backend, within, connection_closed and nothing_after.")
	}
	return st, diags
}

// pending is the case's pending reason on protocol p, or "".
func (c *Case) pending(p string) string {
	if why := c.PendingOn[p]; why != "" {
		return why
	}
	return c.Pending
}

func hasBackend(c *Case, name string) bool {
	return slices.ContainsFunc(c.Backends, func(b Backend) bool { return b.Name == name })
}

func backendKind(c *Case, name string) string {
	for _, b := range c.Backends {
		if b.Name == name {
			return b.Kind
		}
	}
	return ""
}

// vars are the values a case's expressions may refer to.
type vars struct {
	backends  map[string]string // name → host:port
	listeners map[string]string // name → host:port
	clientIP  string
	scheme    string    // http or https, as the client connects
	version   string    // the client's HTTP version: 1.1, 2 or 3
	certs     certFiles // file names only
}

func placeholderVars(c *Case) vars {
	v := vars{backends: map[string]string{}, listeners: map[string]string{}, clientIP: "127.0.0.1",
		scheme: "http", version: "1.1", certs: certFiles{cert: "cert.pem", key: "key.pem",
			altCert: "alt-cert.pem", altKey: "alt-key.pem", ca: "ca.pem"}}
	for i, b := range c.Backends {
		v.backends[b.Name] = fmt.Sprintf("127.0.0.1:%d", 10001+i)
	}
	for i, l := range c.Listeners {
		v.listeners[l] = fmt.Sprintf("127.0.0.1:%d", 20001+i)
	}
	return v
}

// evalContext exposes backend.NAME, listener.NAME, port.NAME (a
// listener's port), client.ip, client.scheme, client.http_version,
// tls.cert_file, tls.key_file, tls.alt_cert_file, tls.alt_key_file and
// tls.ca_file, and the repeat(string, count) function.
func evalContext(v vars) *hcl.EvalContext {
	obj := func(m map[string]string) cty.Value {
		vals := map[string]cty.Value{}
		for k, s := range m {
			vals[k] = cty.StringVal(s)
		}
		return cty.ObjectVal(vals)
	}
	ports := map[string]string{}
	for name, addr := range v.listeners {
		if _, p, err := net.SplitHostPort(addr); err == nil {
			ports[name] = p
		}
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"backend":  obj(v.backends),
			"listener": obj(v.listeners),
			"port":     obj(ports),
			"client": cty.ObjectVal(map[string]cty.Value{
				"ip":           cty.StringVal(v.clientIP),
				"scheme":       cty.StringVal(v.scheme),
				"http_version": cty.StringVal(v.version),
			}),
			"tls": cty.ObjectVal(map[string]cty.Value{
				"cert_file":     cty.StringVal(v.certs.cert),
				"key_file":      cty.StringVal(v.certs.key),
				"alt_cert_file": cty.StringVal(v.certs.altCert),
				"alt_key_file":  cty.StringVal(v.certs.altKey),
				"ca_file":       cty.StringVal(v.certs.ca),
			}),
		},
		Functions: map[string]function.Function{"repeat": repeatFunction()},
	}
}

// repeatFunction is repeat(string, count): the string count times, for
// oversize headers and bodies (at most 16 MiB of output).
func repeatFunction() function.Function {
	return function.New(&function.Spec{
		Description: "Repeats a string count times.",
		Params: []function.Parameter{
			{Name: "string", Type: cty.String},
			{Name: "count", Type: cty.Number},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			s := args[0].AsString()
			n, acc := args[1].AsBigFloat().Int64()
			if acc != 0 || n < 0 || int64(len(s))*n > 16<<20 {
				return cty.NilVal, fmt.Errorf("count must be a whole number ≥ 0 with at most 16 MiB of output")
			}
			return cty.StringVal(strings.Repeat(s, int(n))), nil
		},
	})
}

// renderConfig evaluates the case's config template.
func renderConfig(c *Case, ctx *hcl.EvalContext) (string, hcl.Diagnostics) {
	v, diags := c.config.Value(ctx)
	if diags.HasErrors() {
		return "", diags
	}
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		r := c.config.Range()
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Config is not a string",
			Detail: "config is the gateway configuration as HCL text, usually a heredoc.", Subject: &r}}
	}
	return v.AsString(), nil
}

// parseRendered parses a rendered config; diagnostics point at the case
// file's lines.
func parseRendered(c *Case, text string) (*hcl.File, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig([]byte(text), c.File, hcl.InitialPos)
	for _, d := range diags {
		d.Summary = "In config: " + d.Summary
		for _, r := range []*hcl.Range{d.Subject, d.Context} {
			if r != nil {
				r.Start.Line += c.cfgOff
				r.End.Line += c.cfgOff
			}
		}
	}
	return f, diags
}
