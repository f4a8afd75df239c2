package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/tetratelabs/wazero"

	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// Defaults of [Config].
const (
	// DefaultQuery is the query of a Config without one.
	DefaultQuery = "data.wasmgate.authz.decision"
	// DefaultMaxBody is the body limit of a Config with IncludeBody and no
	// MaxBody.
	DefaultMaxBody = 64 << 10
	// DefaultDenyStatus answers a deny that names no status, and a failure
	// when failing closed.
	DefaultDenyStatus = 403
)

// Config is a policy stage's configuration. Paths are absolute or relative
// to the working directory.
type Config struct {
	// Name names the stage in logs and in the decision log.
	Name string
	// Files are Rego modules.
	Files []string
	// Dir is a directory whose *.rego files, searched recursively, are
	// modules too, except tests (*_test.rego); "" for none.
	Dir string
	// Data are JSON or YAML files, each an object merged into the root of
	// the data document. Two files may not set the same leaf.
	Data []string
	// Query is the Rego query whose value is the decision; default
	// DefaultQuery.
	Query string
	// FailOpen skips the stage when it fails (New's Stage returns an
	// *EvalError for the chain to log and skip) instead of denying.
	FailOpen bool
	// IncludeBody puts the request body into the input. The front end must
	// have buffered it (exchange.Request.BodyBuffered); see BodyLimit.
	IncludeBody bool
	// MaxBody is the largest body read with IncludeBody; larger ones are
	// denied with 413. Default DefaultMaxBody.
	MaxBody int64
	// DecisionLog is where one JSON line per decision goes: "" for
	// nowhere, "stderr", or a file to append to (created 0640).
	DecisionLog string
	// Logger receives denies (debug) and failures (warn); nil discards.
	Logger *slog.Logger
	// Now is the clock of the decision log; nil means time.Now.
	Now func() time.Time
	// CacheSize bounds the decisions cached for deterministic policies,
	// keyed by the input fields the policy reads; 0 means
	// DefaultCacheSize, a negative value disables the cache. A policy that
	// calls a nondeterministic or clock-reading builtin (http.send,
	// time.now_ns, io.jwt.decode_verify, ...) or reads the request id, the
	// body or tls is never cached.
	CacheSize int
	// Engine evaluates the policy: EngineAuto ("" too), EngineWasm or
	// EngineTopdown ("rego" too). Auto runs the policy compiled to
	// WebAssembly when it compiles and calls no builtin left to topdown,
	// and on topdown otherwise; New logs the choice at info.
	Engine string
	// WasmPoolSize is the number of wasm instances (each evaluates one
	// request at a time); 0 means GOMAXPROCS.
	WasmPoolSize int
	// WasmCache, when set, shares compiled wasm code with other stages
	// and with later configuration loads of the same policy; the caller
	// owns it. nil compiles each stage's module anew (about 50 ms for
	// the shipped RBAC policy).
	WasmCache wazero.CompilationCache
}

// Stage is a prepared policy. It implements chain.Filter and is safe for
// concurrent use.
type Stage struct {
	name        string
	query       rego.PreparedEvalQuery
	failOpen    bool
	includeBody bool
	maxBody     int64
	log         *slog.Logger
	now         func() time.Time
	dlog        *decisionLog

	keys  *keys
	wasm  *wasmEngine    // nil when the policy runs on topdown
	needs need           // the input fields the policy reads
	cache *decisionCache // nil when disabled or unsound
	// opts are the evaluation options every Eval shares; optsNoCancel adds
	// a cancel that never fires, for contexts that cannot be cancelled, so
	// that OPA does not start a goroutine per evaluation to watch them.
	opts, optsNoCancel []rego.EvalOption
}

var _ chain.Filter = (*Stage)(nil)

// New loads the modules and data of c, compiles them and prepares the
// query. Problems in the Rego files or the query are an *Error naming
// files and lines; other failures (unreadable files) are plain errors.
func New(ctx context.Context, c Config) (*Stage, error) {
	if c.Query == "" {
		c.Query = DefaultQuery
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	switch c.Engine {
	case "", EngineAuto:
		c.Engine = EngineAuto
	case EngineTopdown, "rego":
		c.Engine = EngineTopdown
	case EngineWasm:
	default:
		return nil, fmt.Errorf("policy %q: unknown engine %q (want %s, %s or rego)", c.Name, c.Engine, EngineAuto, EngineWasm)
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	modules, err := loadModules(c.Name, c.Files, c.Dir)
	if err != nil {
		return nil, err
	}
	data, err := loadData(c.Name, c.Data)
	if err != nil {
		return nil, err
	}
	query, err := ast.ParseBody(c.Query)
	if err != nil {
		return nil, newError(c.Name, err)
	}
	args := []func(*rego.Rego){
		rego.Query(c.Query),
		// AST values on read: a Go-valued store converts the data it
		// returns on every evaluation.
		rego.Store(inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))),
		rego.StrictBuiltinErrors(true),
		rego.SetRegoVersion(ast.RegoV1),
	}
	for _, m := range modules {
		args = append(args, rego.ParsedModule(m))
	}
	pq, err := rego.New(args...).PrepareForEval(ctx)
	if err != nil {
		return nil, newError(c.Name, err)
	}
	s := &Stage{
		name:        c.Name,
		query:       pq,
		failOpen:    c.FailOpen,
		includeBody: c.IncludeBody,
		maxBody:     c.MaxBody,
		log:         log,
		now:         now,
		keys:        newKeys(),
		needs:       inputNeeds(query, modules),
	}
	if c.CacheSize >= 0 && cacheable(s.needs, query, modules) {
		s.cache = newDecisionCache(cmp.Or(c.CacheSize, DefaultCacheSize))
	}
	if c.Engine != EngineTopdown {
		s.wasm, err = newWasmEngine(ctx, &wasmConfig{
			name: c.Name, log: log, query: query, modules: modules, data: data,
			poolSize: c.WasmPoolSize, cache: c.WasmCache,
		})
		switch {
		case err == nil:
			log.Info("policy engine", "policy", c.Name, "engine", EngineWasm)
		case c.Engine == EngineWasm:
			return nil, fmt.Errorf("policy %q: engine wasm: %w", c.Name, err)
		default:
			log.Info("policy engine", "policy", c.Name, "engine", EngineTopdown, "reason", err.Error())
		}
	} else {
		log.Info("policy engine", "policy", c.Name, "engine", EngineTopdown, "reason", "configured")
	}
	s.opts = []rego.EvalOption{
		rego.EvalMetrics(metrics.NoOp()),
		rego.EvalInstrument(false),
		rego.EvalRuleIndexing(true),
		rego.EvalEarlyExit(true),
		rego.EvalGenerateJSON(keepTerm),
	}
	s.optsNoCancel = append(s.opts[:len(s.opts):len(s.opts)], rego.EvalExternalCancel(topdown.NewCancel()))
	if c.DecisionLog != "" {
		s.dlog, err = openDecisionLog(c.DecisionLog)
		if err != nil {
			if s.wasm != nil {
				_ = s.wasm.close(ctx)
			}
			return nil, fmt.Errorf("policy %q: %w", c.Name, err)
		}
	}
	return s, nil
}

// Engine returns the engine the stage evaluates with: EngineWasm or
// EngineTopdown.
func (s *Stage) Engine() string {
	if s.wasm != nil {
		return EngineWasm
	}
	return EngineTopdown
}

// keepTerm hands the query's value back as the term itself, sparing the
// conversion of every result to a Go value.
func keepTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// Name returns the stage's name.
func (s *Stage) Name() string { return s.name }

// BodyLimit returns how much request body the stage needs buffered in
// exchange.Request.Body before it runs: MaxBody when the stage includes
// the body, else 0. Front ends that buffer bodies ask every stage of a
// chain for it.
func (s *Stage) BodyLimit() int64 {
	if !s.includeBody {
		return 0
	}
	return s.maxBody
}

// Close releases the wasm engine and the decision log file, if any.
func (s *Stage) Close(ctx context.Context) error {
	var err error
	if s.wasm != nil {
		err = s.wasm.close(ctx)
	}
	if s.dlog != nil {
		err = errors.Join(err, s.dlog.close())
	}
	return err
}

// EvalError is a policy evaluation that produced no usable decision:
// undefined, of the wrong shape, conflicting, failing in a builtin, or
// without the input it needs. Failing open, OnRequest returns it.
type EvalError struct {
	// Policy is the stage name.
	Policy string
	// Reason says what went wrong.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

func (e *EvalError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("policy %q: %s: %v", e.Policy, e.Reason, e.Err)
	}
	return fmt.Sprintf("policy %q: %s", e.Policy, e.Reason)
}

// Unwrap returns the underlying error.
func (e *EvalError) Unwrap() error { return e.Err }

// Status is what a failing closed policy answers: DefaultDenyStatus. It
// lets the chain answer the same should it ever see the error.
func (e *EvalError) Status() int { return DefaultDenyStatus }

// Evaluate evaluates the policy for x and returns its decision without
// acting on it. An evaluation that yields no usable decision is an
// *EvalError. A request the policy cannot judge (malformed or oversized
// body) is a deny with 400 or 413, not an error. The decision may come
// from the cache and share its Headers and Body: do not modify them.
func (s *Stage) Evaluate(ctx context.Context, x *exchange.Exchange) (Decision, error) {
	if s.cache == nil {
		return s.evaluate(ctx, x)
	}
	var buf [256]byte
	key, ok := appendKey(buf[:0], s.needs, x)
	if !ok {
		return s.evaluate(ctx, x)
	}
	if d := s.cache.get(key); d != nil {
		return *d, nil
	}
	d, err := s.evaluate(ctx, x)
	if err == nil {
		cached := d
		s.cache.put(key, &cached)
	}
	return d, err
}

// evaluate evaluates the policy, without the cache.
func (s *Stage) evaluate(ctx context.Context, x *exchange.Exchange) (Decision, error) {
	if s.wasm != nil {
		return s.wasm.evaluate(ctx, s, x)
	}
	var b inputBuilder
	input, deny, err := b.build(s, x, s.needs)
	if err != nil {
		return Decision{}, err
	}
	if deny != nil {
		return *deny, nil
	}
	opts := s.opts
	if ctx.Done() == nil {
		opts = s.optsNoCancel
	}
	var buf [8]rego.EvalOption
	all := append(append(buf[:0], opts...), rego.EvalParsedInput(input))
	rs, err := s.query.Eval(ctx, all...)
	if err != nil {
		reason := "evaluation failed"
		if topdown.IsError(err) {
			var te *topdown.Error
			if errors.As(err, &te) && te.Code == topdown.ConflictErr {
				reason = "conflicting decisions"
			}
		}
		return Decision{}, &EvalError{Policy: s.name, Reason: reason, Err: err}
	}
	switch {
	case len(rs) == 0 || len(rs[0].Expressions) == 0:
		return Decision{}, &EvalError{Policy: s.name, Reason: "decision is undefined"}
	case len(rs) > 1:
		return Decision{}, &EvalError{Policy: s.name, Reason: fmt.Sprintf("query has %d results; a decision has one", len(rs))}
	}
	t, _ := rs[0].Expressions[0].Value.(*ast.Term)
	if t == nil {
		return Decision{}, &EvalError{Policy: s.name, Reason: "decision is undefined"}
	}
	d, err := decide(t.Value)
	if err != nil {
		return Decision{}, &EvalError{Policy: s.name, Reason: "invalid decision", Err: err}
	}
	return d, nil
}

// OnRequest evaluates the policy: an allow continues (with the decision's
// headers set on the request), a deny answers locally and stops. A
// failure denies with 403 when failing closed and is returned as an
// *EvalError when failing open.
func (s *Stage) OnRequest(ctx context.Context, x *exchange.Exchange) (chain.Action, error) {
	var start time.Time
	if s.dlog != nil {
		start = s.now()
	}
	d, err := s.Evaluate(ctx, x)
	if err != nil {
		var ee *EvalError
		if !errors.As(err, &ee) {
			ee = &EvalError{Policy: s.name, Reason: "evaluation failed", Err: err}
		}
		if s.dlog != nil {
			s.dlog.write(s, x, start, nil, ee)
		}
		if s.failOpen {
			return chain.Continue, ee
		}
		s.log.Warn("policy denied request (fail closed)", "policy", s.name, "reason", ee.Error(),
			"request_id", x.RequestID)
		d = Decision{Status: DefaultDenyStatus, Reason: ee.Error()}
		s.deny(x, &d)
		return chain.Stop, nil
	}
	if s.dlog != nil {
		s.dlog.write(s, x, start, &d, nil)
	}
	if d.Allow {
		for _, h := range d.Headers {
			x.Request.Header.Set(h.Name, h.Value)
		}
		return chain.Continue, nil
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("policy denied request", "policy", s.name, "status", d.Status, "reason", d.Reason,
			"request_id", x.RequestID)
	}
	s.deny(x, &d)
	return chain.Stop, nil
}

// deny sets the local response for a deny.
func (s *Stage) deny(x *exchange.Exchange, d *Decision) {
	status := d.Status
	if status == 0 {
		status = DefaultDenyStatus
	}
	body := d.Body
	if body == nil {
		body = defaultBody(status)
	}
	x.SendLocal(status, body)
	for _, h := range d.Headers {
		x.Response.Header.Add(h.Name, h.Value)
	}
}

// OnResponse does nothing: policies judge requests.
func (s *Stage) OnResponse(context.Context, *exchange.Exchange) error { return nil }

// Done does nothing: the stage keeps no per-request state.
func (s *Stage) Done(*exchange.Exchange) {}

// openDecisionLog opens the decision log destination.
func openDecisionLog(dest string) (*decisionLog, error) {
	if dest == "stderr" {
		return &decisionLog{w: os.Stderr}, nil
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("decision log: %w", err)
	}
	return &decisionLog{w: f, c: f}, nil
}
