package conf

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// The schemas below are the whole configuration language. Adding an
// attribute is one line in a schema and one getter call in a decode method;
// Content reports anything a schema does not list.

func rootSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "listener", LabelNames: []string{"name"}},
		{Type: "upstream", LabelNames: []string{"name"}},
		{Type: "chain", LabelNames: []string{"name"}},
		{Type: "route", LabelNames: []string{"name"}},
		{Type: "admin"},
	}}
}

func adminSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "address", Required: true},
		{Name: "allow"},
	}}
}

func listenerSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "address", Required: true},
			{Name: "protocol"},
			{Name: "chain"},
			{Name: "upstream"},
			{Name: "read_header_timeout"},
			{Name: "idle_timeout"},
			{Name: "max_header_size"},
			{Name: "max_body_size"},
			{Name: "allow"},
			{Name: "http2"},
			{Name: "http2_max_concurrent_streams"},
			{Name: "http2_stream_window"},
			{Name: "http2_connection_window"},
			{Name: "http3"},
			{Name: "quic"},
			{Name: "redirect_https"},
			{Name: "access_log"},
			{Name: "plain_path"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "tls"}},
	}
}

func upstreamSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "balancer"},
			{Name: "timeout"},
			{Name: "connect_timeout"},
			{Name: "idle_timeout"},
			{Name: "max_connections"},
			{Name: "protocol"},
			{Name: "slow_start"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "endpoint", LabelNames: []string{"address"}},
			{Type: "retry"},
			{Type: "tls"},
			// Traffic management: see traffic.go.
			{Type: "health_check"},
			{Type: "outlier"},
			{Type: "affinity"},
			{Type: "circuit_breaker"},
		},
	}
}

func endpointSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "weight"}}}
}

func retrySchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "attempts"}, {Name: "on"},
		{Name: "per_try_timeout"}, {Name: "backoff"}, {Name: "max_backoff"},
		{Name: "allow_post"}, {Name: "allow_body"},
		{Name: "budget_percent"}, {Name: "min_retry_concurrency"},
	}}
}

func chainSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: StageFilter, LabelNames: []string{"name"}},
		{Type: StagePolicy, LabelNames: []string{"name"}},
	}}
}

func filterSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "module", Required: true},
		{Name: "config"},
		{Name: "vm_config"},
		{Name: "root_id"},
		{Name: "vm_id"},
		{Name: "pool_size"},
		{Name: "memory_limit"},
		{Name: "timeout"},
		{Name: "buffer_body"},
		{Name: "fail"},
	}}
}

func policySchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "files"},
		{Name: "dir"},
		{Name: "data"},
		{Name: "query"},
		{Name: "fail"},
		{Name: "include_body"},
		{Name: "max_body"},
		{Name: "decision_log"},
		{Name: "engine"},
	}}
}

// Allowed values, as functions so that no package state can change.

func balancers() []string {
	return []string{"round_robin", "weighted_round_robin", "least_conn", "random", "p2c", "source_ip_hash"}
}

func retryConditions() []string {
	return []string{"connect-failure", "reset", "refused-stream", "gateway-error", "5xx"}
}

func failModes() []string { return []string{FailClosed, FailOpen} }

func policyEngines() []string { return []string{EngineAuto, EngineWasm, EngineRego} }

// Defaults.
const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultClientIdle        = 610 * time.Second
	defaultMaxHeaderSize     = 16 << 10
	defaultMaxBodySize       = 1 << 30
	defaultBalancer          = "round_robin"
	defaultTimeout           = 30 * time.Second
	defaultConnectTimeout    = 5 * time.Second
	defaultUpstreamIdle      = 600 * time.Second
	defaultMaxConnections    = 1024
	defaultRetryAttempts     = 1
	defaultRetryOn           = "connect-failure"
	defaultQuery             = "data.wasmgate.authz.decision"
	defaultPolicyMaxBody     = 64 << 10
)

// decoder turns parsed files into a Config, collecting diagnostics.
type decoder struct {
	cfg   *Config
	diags hcl.Diagnostics

	// First declaration of each name, valid or not, so that a mistake in
	// one block does not also fail every reference to it.
	listeners, upstreams, chains map[string]hcl.Range
	routes                       map[string]hcl.Range // see route.go; made on first use

	addrs     []listenAddr // listener addresses so far
	refs      []reference  // listener references, checked by resolve
	redirects []reference  // redirect_https references, checked by resolve
}

type listenAddr struct {
	hp      hostPort
	address string
	owner   string // `listener "NAME"` or `admin block`, for diagnostics
	rng     hcl.Range
}

type reference struct {
	kind, name string // kind is "chain", "upstream" or "listener"
	rng        hcl.Range
}

func newDecoder(cfg *Config) *decoder {
	return &decoder{
		cfg:       cfg,
		listeners: map[string]hcl.Range{},
		upstreams: map[string]hcl.Range{},
		chains:    map[string]hcl.Range{},
	}
}

func (d *decoder) errorf(subject hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

// content decodes body against schema.
func (d *decoder) content(s *source, body hcl.Body, schema *hcl.BodySchema) (attrs, hcl.Blocks) {
	c, diags := body.Content(schema)
	d.diags = append(d.diags, diags...)
	a := attrs{d: d, src: s, required: map[string]bool{}}
	for _, as := range schema.Attributes {
		a.required[as.Name] = as.Required
	}
	if c == nil {
		return a, nil
	}
	a.m = c.Attributes
	return a, c.Blocks
}

// declare records the name of block b among seen and reports whether it is
// the first of that name. what names the kind of block in diagnostics.
func (d *decoder) declare(seen map[string]hcl.Range, what string, b *hcl.Block) bool {
	name, rng := b.Labels[0], b.LabelRanges[0]
	if first, dup := seen[name]; dup {
		d.errorf(rng, "Duplicate "+what+" name",
			"Another %s named %q is declared at %s; names must be unique.", what, name, first)
		return false
	}
	seen[name] = b.DefRange
	if !validName(name) {
		d.errorf(rng, "Invalid name",
			"%q is not a valid %s name: use letters, digits, '_', '-' and '.', starting with a letter or digit.", name, what)
	}
	return true
}

func (d *decoder) decodeFile(s *source) {
	_, blocks := d.content(s, s.file.Body, rootSchema())
	for _, b := range blocks {
		switch b.Type {
		case "listener":
			d.decodeListener(s, b)
		case "upstream":
			d.decodeUpstream(s, b)
		case "chain":
			d.decodeChain(s, b)
		case "route":
			d.decodeRoute(s, b)
		case "admin":
			d.decodeAdmin(s, b)
		}
	}
}

func (d *decoder) decodeListener(s *source, b *hcl.Block) {
	l := &Listener{
		Name:              b.Labels[0],
		Protocol:          "http",
		ReadHeaderTimeout: defaultReadHeaderTimeout,
		IdleTimeout:       defaultClientIdle,
		MaxHeaderSize:     defaultMaxHeaderSize,
		MaxBodySize:       defaultMaxBodySize,
		DeclRange:         b.DefRange,
	}
	first := d.declare(d.listeners, "listener", b)
	a, blocks := d.content(s, b.Body, listenerSchema())

	l.Address, l.AddressRange = d.listenAddress(a, fmt.Sprintf("listener %q", l.Name), first)
	protoRange, _ := a.str("protocol", &l.Protocol)
	d.decodeListenerProtocols(s, a, blocks, l, protoRange)
	if rng, ok := a.str("chain", &l.Chain); ok {
		d.refs = append(d.refs, reference{kind: "chain", name: l.Chain, rng: rng})
	}
	if rng, ok := a.str("upstream", &l.Upstream); ok {
		d.refs = append(d.refs, reference{kind: "upstream", name: l.Upstream, rng: rng})
	}
	a.duration("read_header_timeout", &l.ReadHeaderTimeout)
	a.duration("idle_timeout", &l.IdleTimeout)
	if rng, ok := a.str("access_log", &l.AccessLog); ok {
		switch l.AccessLog {
		case "off", "stdout", "stderr":
		default:
			// A file, relative to the config file that names it.
			l.AccessLog = s.path(l.AccessLog)
			if _, err := os.Stat(filepath.Dir(l.AccessLog)); err != nil {
				d.errorf(rng, "Unwritable access log",
					"The directory of access_log %q does not exist: %v.", l.AccessLog, err)
			}
		}
	}
	plain := true
	a.boolean("plain_path", &plain)
	l.PlainPathOff = !plain
	a.size("max_header_size", &l.MaxHeaderSize)
	a.size("max_body_size", &l.MaxBodySize)
	l.Allow = d.prefixes(a, "allow")
	if first {
		d.cfg.Listeners = append(d.cfg.Listeners, l)
	}
}

// listenAddress decodes the address attribute of a block that listens:
// owner (`listener "NAME"`, `admin block`) names it in diagnostics, and
// check reports an address that an earlier block takes.
func (d *decoder) listenAddress(a attrs, owner string, check bool) (string, hcl.Range) {
	var addr string
	rng, ok := a.str("address", &addr)
	if !ok {
		return addr, rng
	}
	hp, err := parseHostPort(addr, true)
	switch {
	case err != nil:
		d.errorf(rng, "Invalid address",
			"%q is not a valid listen address: %s. Use host:port, for example \"127.0.0.1:8080\", \"[::1]:8080\" or \":8080\" (all interfaces).",
			addr, err)
	case check:
		d.checkListenAddr(listenAddr{hp: hp, address: addr, owner: owner, rng: rng})
	}
	return addr, rng
}

// prefixes decodes the list attribute name of CIDR prefixes.
func (d *decoder) prefixes(a attrs, name string) []netip.Prefix {
	var out []netip.Prefix
	vals, ranges, _ := a.strs(name)
	for i, v := range vals {
		p, ok := parsePrefix(v)
		if !ok {
			d.errorf(ranges[i], "Invalid CIDR prefix",
				"%q is not an IP prefix. Use CIDR notation such as \"10.0.0.0/8\" or \"2001:db8::/32\", or a single address.", v)
			continue
		}
		out = append(out, p)
	}
	return out
}

// decodeAdmin decodes the admin block: the operators' listener.
func (d *decoder) decodeAdmin(s *source, b *hcl.Block) {
	if prev := d.cfg.Admin; prev != nil {
		d.errorf(b.DefRange, "Duplicate admin block",
			"A configuration has at most one admin block; the first is at %s.", prev.DeclRange)
		return
	}
	ad := &Admin{DeclRange: b.DefRange}
	a, _ := d.content(s, b.Body, adminSchema())
	ad.Address, ad.AddressRange = d.listenAddress(a, "admin block", true)
	ad.Allow = d.prefixes(a, "allow")
	d.cfg.Admin = ad
}

// checkListenAddr reports an address that an earlier listener already
// takes, then records it.
func (d *decoder) checkListenAddr(la listenAddr) {
	for _, prev := range d.addrs {
		if la.hp.port == 0 || prev.hp.port != la.hp.port {
			continue
		}
		if prev.hp == la.hp {
			d.errorf(la.rng, "Duplicate listener address",
				"The %s at %s already listens on %q.", prev.owner, prev.rng, prev.address)
			return
		}
		if covers(prev.hp, la.hp) || covers(la.hp, prev.hp) {
			d.errorf(la.rng, "Conflicting listener address",
				"%q overlaps %q of the %s at %s: a listener on all addresses takes its port on every address.",
				la.address, prev.address, prev.owner, prev.rng)
			return
		}
	}
	d.addrs = append(d.addrs, la)
}

// covers reports whether listening on w also takes the port on x: w is the
// empty host or "::" (both dual-stack), or "0.0.0.0" and x an IPv4 address.
func covers(w, x hostPort) bool {
	switch {
	case w.host == "":
		return true
	case !w.ip.IsValid() || !w.ip.IsUnspecified():
		return false
	case w.ip.Is6():
		return true
	default:
		return x.ip.Is4()
	}
}

func (d *decoder) decodeUpstream(s *source, b *hcl.Block) {
	u := &Upstream{
		Name:           b.Labels[0],
		Balancer:       defaultBalancer,
		Timeout:        defaultTimeout,
		ConnectTimeout: defaultConnectTimeout,
		IdleTimeout:    defaultUpstreamIdle,
		MaxConnections: defaultMaxConnections,
		Retry:          Retry{Attempts: defaultRetryAttempts, On: []string{defaultRetryOn}},
		DeclRange:      b.DefRange,
	}
	first := d.declare(d.upstreams, "upstream", b)
	a, blocks := d.content(s, b.Body, upstreamSchema())
	d.decodeUpstreamProtocol(s, a, blocks, u)

	a.oneOf("balancer", "balancer", balancers(), &u.Balancer)
	a.duration("timeout", &u.Timeout)
	a.duration("connect_timeout", &u.ConnectTimeout)
	a.duration("idle_timeout", &u.IdleTimeout)
	a.intRange("max_connections", 1, math.MaxInt32, &u.MaxConnections)
	a.duration("slow_start", &u.SlowStart)

	endpoints := map[hostPort]hcl.Range{}
	traffic := map[string]*hcl.Block{}
	var retry *hcl.Block
	declared := 0
	for _, eb := range blocks {
		switch eb.Type {
		case "endpoint":
			declared++
			if ep, ok := d.decodeEndpoint(s, eb, u.Name, endpoints); ok {
				u.Endpoints = append(u.Endpoints, ep)
			}
		case "tls":
			// decodeUpstreamProtocol
		case "retry":
			if retry != nil {
				d.errorf(eb.DefRange, "Duplicate retry block",
					"An upstream has at most one retry block; the first is at %s.", retry.DefRange)
				continue
			}
			retry = eb
			d.decodeRetry(s, eb, &u.Retry)
		case "health_check":
			if d.once(traffic, eb) {
				u.HealthCheck = d.decodeHealthCheck(s, eb)
			}
		case "outlier":
			if d.once(traffic, eb) {
				u.Outlier = d.decodeOutlier(s, eb)
			}
		case "affinity":
			if d.once(traffic, eb) {
				u.Affinity = d.decodeAffinity(s, eb)
			}
		case "circuit_breaker":
			if d.once(traffic, eb) {
				u.CircuitBreaker = d.decodeCircuitBreaker(s, eb)
			}
		}
	}
	if declared == 0 {
		d.errorf(b.DefRange, "Upstream without endpoints",
			"The upstream %q declares no endpoint. Add at least one endpoint block, for example: endpoint \"10.0.0.1:8080\" {}", u.Name)
	}
	if first {
		d.cfg.Upstreams = append(d.cfg.Upstreams, u)
	}
}

// decodeEndpoint decodes an endpoint block of the named upstream; seen
// holds the upstream's endpoints so far.
func (d *decoder) decodeEndpoint(s *source, b *hcl.Block, upstream string, seen map[hostPort]hcl.Range) (Endpoint, bool) {
	ep := Endpoint{Address: b.Labels[0], Weight: 100, DeclRange: b.DefRange}
	a, _ := d.content(s, b.Body, endpointSchema())
	a.intRange("weight", 0, 100, &ep.Weight)

	rng := b.LabelRanges[0]
	hp, err := parseHostPort(ep.Address, false)
	if err != nil {
		d.errorf(rng, "Invalid address",
			"%q is not a valid endpoint address: %s. Use host:port, for example \"10.0.0.1:8080\", \"[2001:db8::1]:8080\" or \"api.internal:8080\".",
			ep.Address, err)
		return ep, false
	}
	if first, dup := seen[hp]; dup {
		d.errorf(rng, "Duplicate endpoint",
			"The endpoint %q was already declared in the upstream %q at %s.", ep.Address, upstream, first)
		return ep, false
	}
	seen[hp] = b.DefRange
	return ep, true
}

func (d *decoder) decodeRetry(s *source, b *hcl.Block, r *Retry) {
	a, _ := d.content(s, b.Body, retrySchema())
	a.intRange("attempts", 0, 5, &r.Attempts)
	d.decodeRetryTraffic(a, r)
	vals, ranges, attr := a.strs("on")
	if attr == nil {
		return
	}
	seen := map[string]hcl.Range{}
	r.On = []string{}
	for i, v := range vals {
		if _, code := parseStatusRange(v); !slices.Contains(retryConditions(), v) && !(code && len(v) == 3) {
			d.errorf(ranges[i], "Unknown retry condition",
				"%q is not a retry condition. Use one of: %s, or a status code such as \"503\".", v, strings.Join(retryConditions(), ", "))
			continue
		}
		if first, dup := seen[v]; dup {
			d.errorf(ranges[i], "Duplicate retry condition", "%q is already listed at %s.", v, first)
			continue
		}
		seen[v] = ranges[i]
		r.On = append(r.On, v)
	}
}

func (d *decoder) decodeChain(s *source, b *hcl.Block) {
	c := &Chain{Name: b.Labels[0], DeclRange: b.DefRange}
	first := d.declare(d.chains, "chain", b)
	_, blocks := d.content(s, b.Body, chainSchema())

	stages := map[string]hcl.Range{}
	for _, sb := range blocks {
		st := &Stage{Kind: sb.Type, Name: sb.Labels[0], Fail: FailClosed, DeclRange: sb.DefRange}
		firstStage := d.declare(stages, "stage", sb)
		switch sb.Type {
		case StageFilter:
			d.decodeFilter(s, sb, st)
		case StagePolicy:
			d.decodePolicy(s, sb, st)
		}
		if firstStage {
			c.Stages = append(c.Stages, st)
		}
	}
	if first {
		d.cfg.Chains = append(d.cfg.Chains, c)
	}
}

func (d *decoder) decodeFilter(s *source, b *hcl.Block, st *Stage) {
	a, _ := d.content(s, b.Body, filterSchema())
	var mod string
	if rng, ok := a.str("module", &mod); ok {
		st.ModuleRange = rng
		st.Module = d.module(s, mod, rng)
	}
	a.json("config", &st.Config)
	a.json("vm_config", &st.VMConfig)
	a.str("root_id", &st.RootID)
	a.str("vm_id", &st.VMID)
	a.intRange("pool_size", 1, 1024, &st.PoolSize)
	a.size("memory_limit", &st.MemoryLimit)
	a.duration("timeout", &st.CallTimeout)
	a.size("buffer_body", &st.BufferBody)
	a.oneOf("fail", "fail mode", failModes(), &st.Fail)
}

// module resolves a filter's module attribute: builtin:NAME as written, or
// the absolute path of a readable file.
func (d *decoder) module(s *source, mod string, rng hcl.Range) string {
	if name, ok := strings.CutPrefix(mod, BuiltinPrefix); ok {
		if !validBuiltin(name) {
			d.errorf(rng, "Invalid builtin module",
				"%q does not name a builtin module: write builtin: and a name of lower-case letters, digits, '_' and '-', for example \"builtin:routing\".", mod)
		}
		return mod
	}
	if mod == "" {
		d.errorf(rng, "Missing module", "The module must be the path of a .wasm file or builtin:NAME.")
		return ""
	}
	path := s.path(mod)
	if reason := checkReadable(path); reason != "" {
		d.errorf(rng, "Unreadable module",
			"The module file %q cannot be read: %s. A relative path is resolved against the directory of the file that declares it.", mod, reason)
	}
	return path
}

func validBuiltin(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (d *decoder) decodePolicy(s *source, b *hcl.Block, st *Stage) {
	st.Query = defaultQuery
	st.QueryRange = b.DefRange
	st.MaxBody = defaultPolicyMaxBody
	st.Engine = EngineAuto
	a, _ := d.content(s, b.Body, policySchema())
	vals, ranges, filesAttr := a.strs("files")
	for i, f := range vals {
		path := s.path(f)
		if reason := checkReadable(path); reason != "" {
			d.errorf(ranges[i], "Unreadable policy file",
				"The policy file %q cannot be read: %s. A relative path is resolved against the directory of the file that declares it.", f, reason)
		}
		st.Files = append(st.Files, path)
	}
	var dir string
	if rng, ok := a.str("dir", &dir); ok {
		st.Dir = s.path(dir)
		if reason := checkDir(st.Dir); reason != "" {
			d.errorf(rng, "Unreadable policy directory",
				"The policy directory %q cannot be read: %s. A relative path is resolved against the directory of the file that declares it.", dir, reason)
		}
	}
	switch {
	case st.Dir != "" || len(vals) > 0:
	case filesAttr != nil:
		d.errorf(filesAttr.Expr.Range(), "Missing policy files", "A policy needs at least one Rego file: list files, or set dir.")
	case a.m["files"] == nil && a.m["dir"] == nil:
		d.errorf(b.DefRange, "Missing policy files", "A policy needs Rego files: set files = [\"PATH.rego\", ...], dir = \"PATH\", or both.")
	}
	vals, ranges, _ = a.strs("data")
	for i, f := range vals {
		path := s.path(f)
		switch ext := strings.ToLower(filepath.Ext(path)); {
		case ext != ".json" && ext != ".yaml" && ext != ".yml":
			d.errorf(ranges[i], "Unknown data file type",
				"The data file %q must be JSON (.json) or YAML (.yaml, .yml).", f)
		default:
			if reason := checkReadable(path); reason != "" {
				d.errorf(ranges[i], "Unreadable data file",
					"The data file %q cannot be read: %s. A relative path is resolved against the directory of the file that declares it.", f, reason)
			}
		}
		st.Data = append(st.Data, path)
	}
	if rng, ok := a.str("query", &st.Query); ok {
		st.QueryRange = rng
		if strings.TrimSpace(st.Query) == "" {
			d.errorf(rng, "Empty query", "The query must be a Rego query, for example %q.", defaultQuery)
		}
	}
	a.oneOf("fail", "fail mode", failModes(), &st.Fail)
	a.oneOf("engine", "policy engine", policyEngines(), &st.Engine)
	a.boolean("include_body", &st.IncludeBody)
	a.size("max_body", &st.MaxBody)
	var dlog string
	if rng, ok := a.str("decision_log", &dlog); ok {
		switch dlog {
		case "off":
		case "stderr":
			st.DecisionLog = dlog
		case "":
			d.errorf(rng, "Invalid decision log",
				"The decision log must be \"off\", \"stderr\" or the path of a file to append to.")
		default:
			st.DecisionLog = s.path(dlog)
			if reason := checkDir(filepath.Dir(st.DecisionLog)); reason != "" {
				d.errorf(rng, "Invalid decision log",
					"The decision log %q cannot be created: its directory cannot be read: %s.", dlog, reason)
			} else if info, err := os.Stat(st.DecisionLog); err == nil && !info.Mode().IsRegular() {
				d.errorf(rng, "Invalid decision log", "The decision log %q is not a regular file.", dlog)
			}
		}
	}
}

// resolve checks the references between blocks once all are declared.
func (d *decoder) resolve() {
	d.resolveRedirects()
	for _, r := range d.refs {
		var seen map[string]hcl.Range
		var names []string
		switch r.kind {
		case "chain":
			seen = d.chains
			for _, c := range d.cfg.Chains {
				names = append(names, c.Name)
			}
		case "listener":
			seen = d.listeners
			for _, l := range d.cfg.Listeners {
				names = append(names, l.Name)
			}
		case "upstream":
			seen = d.upstreams
			for _, u := range d.cfg.Upstreams {
				names = append(names, u.Name)
			}
		}
		if _, ok := seen[r.name]; ok {
			continue
		}
		declared := fmt.Sprintf("No %ss are declared.", r.kind)
		if len(names) > 0 {
			declared = fmt.Sprintf("Declared %ss: %s.", r.kind, strings.Join(names, ", "))
		}
		d.errorf(r.rng, "Reference to undeclared "+r.kind,
			"No %s named %q is declared. %s", r.kind, r.name, declared)
	}
}
