package policy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/compile"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/wasmhost"
)

// The wasm engine compiles the policy's modules and query to WebAssembly
// with OPA's compile package and evaluates that module on wazero, through
// the OPA Wasm ABI (opa_eval, ABI 1.2 and later):
//
//   - The policy module imports its memory (env.memory); wazero host
//     modules export functions only, so wasmhost.DefineImportedMemory
//     rewrites the import into a memory the module defines. The host module "env"
//     provides opa_abort, opa_println and opa_builtin0..4.
//   - A stage keeps a bounded pool of instances, created by New. Each
//     instance parses the data document once; every evaluation writes the
//     input right after it and passes opa_eval that address as the heap
//     pointer, so each evaluation starts from the post-data heap.
//   - Builtins the OPA runtime lacks (sprintf, ...) come back through
//     opa_builtinN and run OPA's Go implementations. glob.match and the
//     regex builtins are routed there too: the runtime's versions compile
//     their pattern with RE2 in every evaluation (its caches do not
//     survive the heap reset), about 20 µs a call, where topdown's caches
//     are shared across evaluations. So are concat and json.marshal, for
//     topdown's order of sets and objects (see routedBuiltins).

// Engines of Config.Engine.
const (
	// EngineAuto uses the wasm engine when the policy compiles to wasm
	// and needs no builtin the engine leaves to topdown, else topdown.
	EngineAuto = "auto"
	// EngineWasm compiles the policy to WebAssembly; New fails when it
	// cannot.
	EngineWasm = "wasm"
	// EngineTopdown is OPA's Rego interpreter ("rego" is a synonym).
	EngineTopdown = "topdown"
)

// hostBuiltinPrefix renames the builtins routed to Go (routedBuiltins) in
// the modules compiled to wasm: the OPA wasm compiler implements a builtin
// natively when it knows its name, and imports it otherwise.
const hostBuiltinPrefix = "wasmgate_host."

// routedBuiltins are builtins the OPA wasm runtime implements natively
// but that run in Go instead: the RE2-based ones, which are faster in Go,
// and those whose result depends on the order of a set or an object,
// which the runtime iterates in hash order where topdown sorts (concat
// of a set of roles, say).
var routedBuiltins = []*ast.Builtin{
	ast.GlobMatch, ast.RegexMatch, ast.RegexMatchDeprecated, ast.RegexIsValid,
	ast.RegexFindAllStringSubmatch, ast.Concat, ast.JSONMarshal,
}

// wasmMaxPages bounds an instance's memory, data aside: 256 MiB.
const wasmMaxPages = 4096

// errNoWasm says why a policy does not run on the wasm engine.
var errNoWasm = errors.New("policy cannot run on the wasm engine")

// wasmEngine is a policy compiled to wasm with its pool of instances.
type wasmEngine struct {
	name       string
	log        *slog.Logger
	rt         wazero.Runtime
	compiled   wazero.CompiledModule
	entrypoint int32
	data       []byte // the data document as JSON
	builtins   map[int32]*hostBuiltin
	direct     bool // values can be read straight from guest memory (see probeLayout)

	pool  chan *wasmInstance
	size  int32
	count atomic.Int32 // live instances
	live  sync.Map     // api.Module → *wasmInstance, for host functions

	metrics metrics.Metrics
	cancel  topdown.Cancel
	closed  atomic.Bool
}

// hostBuiltin is a builtin the guest calls through opa_builtinN.
type hostBuiltin struct {
	name string
	fn   topdown.BuiltinFunc
}

// wasmInstance is one instance of the policy module. It is used by one
// evaluation at a time.
type wasmInstance struct {
	e   *wasmEngine
	mod api.Module
	mem api.Memory

	eval, malloc, valueParse, valueDump api.Function
	stack                               [8]uint64
	cstack                              [2]uint64 // for calls made from host functions

	dataAddr, evalHeap uint32

	input jsonInput
	dec   decoder

	// Builtin calls: arguments, the result and the iterator setting it.
	args [4]*ast.Term
	out  *ast.Term
	iter func(*ast.Term) error

	// The first error of a host builtin in the current evaluation.
	berr error
}

// wasmConfig is what newWasmEngine needs from New.
type wasmConfig struct {
	name     string
	log      *slog.Logger
	query    ast.Body
	modules  []*ast.Module
	data     map[string]any
	poolSize int
	cache    wazero.CompilationCache
}

// wasmEntrypoint returns the entrypoint ("a/b/c") of a query that is one
// ground reference into data, such as data.a.b.c.
func wasmEntrypoint(query ast.Body) (string, error) {
	if len(query) != 1 {
		return "", fmt.Errorf("%w: the query has %d expressions, not one reference", errNoWasm, len(query))
	}
	t, ok := query[0].Terms.(*ast.Term)
	if !ok || query[0].Negated || len(query[0].With) > 0 {
		return "", fmt.Errorf("%w: the query is not a reference", errNoWasm)
	}
	ref, ok := t.Value.(ast.Ref)
	if !ok || len(ref) < 2 || !ref[0].Equal(ast.DefaultRootDocument) {
		return "", fmt.Errorf("%w: the query is not a reference into data", errNoWasm)
	}
	parts := make([]string, 0, len(ref)-1)
	for _, k := range ref[1:] {
		s, ok := k.Value.(ast.String)
		if !ok || s == "" || strings.Contains(string(s), "/") {
			return "", fmt.Errorf("%w: the query reference has a key that is not a plain string: %v", errNoWasm, k)
		}
		parts = append(parts, string(s))
	}
	return strings.Join(parts, "/"), nil
}

// routeBuiltins returns copies of modules whose calls of routedBuiltins
// are renamed with hostBuiltinPrefix, and the declarations of the renamed
// builtins. A builtin is left alone in a module where its name may mean
// something else (an import or a rule named like its first part), and
// everywhere when a with replaces it.
func routeBuiltins(modules []*ast.Module) ([]*ast.Module, []*ast.Builtin) {
	routed := map[string]ast.Ref{}
	for _, b := range routedBuiltins {
		routed[b.Name] = ast.MustParseRef(hostBuiltinPrefix + b.Name)
	}
	for _, m := range modules {
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			for _, w := range e.With {
				delete(routed, w.Target.String())
			}
			return false
		})
	}
	used := map[string]bool{}
	out := make([]*ast.Module, len(modules))
	for i, m := range modules {
		m = m.Copy()
		local := map[ast.Var]bool{}
		for _, imp := range m.Imports {
			local[imp.Name()] = true
		}
		for _, r := range m.Rules {
			if v, ok := r.Head.Ref()[0].Value.(ast.Var); ok {
				local[v] = true
			}
		}
		rename := func(t *ast.Term) {
			ref, ok := t.Value.(ast.Ref)
			if !ok {
				return
			}
			if v, ok := ref[0].Value.(ast.Var); !ok || local[v] {
				return
			}
			name := ref.String()
			if r, ok := routed[name]; ok {
				t.Value = r.Copy()
				used[name] = true
			}
		}
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if terms, ok := e.Terms.([]*ast.Term); ok && len(terms) > 0 {
				rename(terms[0])
			}
			return false
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if call, ok := t.Value.(ast.Call); ok && len(call) > 0 {
				rename(call[0])
			}
			return false
		})
		out[i] = m
	}
	var decls []*ast.Builtin
	for _, b := range routedBuiltins {
		if used[b.Name] {
			decls = append(decls, &ast.Builtin{Name: hostBuiltinPrefix + b.Name, Decl: b.Decl})
		}
	}
	return out, decls
}

// topdownOnly are builtins whose Go implementation needs what only a
// topdown evaluation has (a clock shared by the evaluation, the runtime,
// tracers, annotations), or that are nondeterministic: a policy calling
// one is left to topdown.
func topdownOnly(name string) bool {
	switch name {
	case "opa.runtime", "trace", "print", "internal.print", "rego.metadata.chain", "rego.metadata.rule":
		return true
	}
	// The nondeterministic builtins, and io.jwt.decode_verify (clock).
	return uncacheableBuiltins()[name]
}

// compileWasm compiles the modules and the query's entrypoint to a wasm
// module.
func compileWasm(ctx context.Context, c *wasmConfig, entrypoint string) ([]byte, error) {
	modules, decls := routeBuiltins(c.modules)
	b := &bundle.Bundle{Data: c.data}
	b.SetRegoVersion(ast.RegoV1)
	b.Manifest.Init()
	for i, m := range modules {
		// Unique URLs: the compiler keys modules by them.
		url := fmt.Sprintf("%d/%s", i, m.Package.Location.File)
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: url, Path: url, Parsed: m})
	}
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = append(slices.Clone(caps.Builtins), decls...)
	comp := compile.New().
		WithTarget(compile.TargetWasm).
		WithEntrypoints(entrypoint).
		WithBundle(b).
		WithCapabilities(caps).
		WithRegoVersion(ast.RegoV1)
	if err := comp.Build(ctx); err != nil {
		return nil, fmt.Errorf("%w: compiling to wasm: %w", errNoWasm, err)
	}
	out := comp.Bundle()
	if out == nil || len(out.WasmModules) != 1 {
		return nil, fmt.Errorf("%w: compiling to wasm produced no module", errNoWasm)
	}
	return out.WasmModules[0].Raw, nil
}

// newWasmEngine compiles the policy to wasm, loads it into a wazero
// runtime and creates the pool's instances. An error wrapping errNoWasm
// means that the policy cannot use the wasm engine; others are failures
// of an engine that should have worked.
func newWasmEngine(ctx context.Context, c *wasmConfig) (*wasmEngine, error) {
	ep, err := wasmEntrypoint(c.query)
	if err != nil {
		return nil, err
	}
	bin, err := compileWasm(ctx, c, ep)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(c.data)
	if err != nil {
		return nil, fmt.Errorf("encoding the data document: %w", err)
	}
	maxPages := uint32(wasmMaxPages + 4*len(data)/65536)
	bin, err = wasmhost.DefineImportedMemory(bin, maxPages)
	if err != nil {
		return nil, err
	}
	size := c.poolSize
	if size <= 0 {
		size = runtime.GOMAXPROCS(0)
	}
	cfg := wazero.NewRuntimeConfig()
	if c.cache != nil {
		cfg = cfg.WithCompilationCache(c.cache)
	}
	e := &wasmEngine{
		name:    c.name,
		log:     c.log,
		rt:      wazero.NewRuntimeWithConfig(ctx, cfg),
		data:    data,
		pool:    make(chan *wasmInstance, size),
		size:    int32(size),
		metrics: metrics.NoOp(),
		cancel:  topdown.NewCancel(),
	}
	ok := false
	defer func() {
		if !ok {
			_ = e.rt.Close(context.Background())
		}
	}()
	if err := e.hostModule(ctx); err != nil {
		return nil, err
	}
	if e.compiled, err = e.rt.CompileModule(ctx, bin); err != nil {
		return nil, fmt.Errorf("compiling the policy module: %w", err)
	}
	first, err := e.newInstance(ctx)
	if err != nil {
		return nil, err
	}
	if err := e.inspect(ctx, first, ep); err != nil {
		return nil, err
	}
	e.count.Add(1)
	e.pool <- first
	for range size - 1 {
		in, err := e.newInstance(ctx)
		if err != nil {
			return nil, err
		}
		e.count.Add(1)
		e.pool <- in
	}
	ok = true
	return e, nil
}

// inspect reads what every instance shares from the first one: the ABI
// version, the entrypoint id, the builtins it imports, and whether values
// can be read from memory directly.
func (e *wasmEngine) inspect(ctx context.Context, in *wasmInstance, ep string) error {
	major, minor := in.mod.ExportedGlobal("opa_wasm_abi_version"), in.mod.ExportedGlobal("opa_wasm_abi_minor_version")
	if major == nil || minor == nil || major.Get() != 1 || minor.Get() < 2 {
		return fmt.Errorf("%w: the module's ABI is not 1.2 or later", errNoWasm)
	}
	eps, err := in.callMap(ctx, "entrypoints")
	if err != nil {
		return err
	}
	id, ok := eps[ep]
	if !ok {
		return fmt.Errorf("%w: the module has no entrypoint %q", errNoWasm, ep)
	}
	e.entrypoint = id
	bs, err := in.callMap(ctx, "builtins")
	if err != nil {
		return err
	}
	e.builtins = make(map[int32]*hostBuiltin, len(bs))
	for name, id := range bs {
		goName := strings.TrimPrefix(name, hostBuiltinPrefix)
		if topdownOnly(goName) {
			return fmt.Errorf("%w: it calls %s, which runs on topdown only", errNoWasm, goName)
		}
		fn := topdown.GetBuiltin(goName)
		if fn == nil {
			return fmt.Errorf("%w: builtin %s has no Go implementation", errNoWasm, goName)
		}
		e.builtins[id] = &hostBuiltin{name: goName, fn: fn}
	}
	e.direct = in.probeLayout(ctx)
	return nil
}

// callMap calls an export returning an object of numbers (entrypoints,
// builtins) and decodes it.
func (in *wasmInstance) callMap(ctx context.Context, export string) (map[string]int32, error) {
	f := in.mod.ExportedFunction(export)
	if f == nil {
		return nil, fmt.Errorf("%w: the module does not export %s", errNoWasm, export)
	}
	res, err := f.Call(ctx)
	if err != nil {
		return nil, fmt.Errorf("calling %s: %w", export, err)
	}
	dump := in.mod.ExportedFunction("opa_json_dump")
	if dump == nil {
		return nil, fmt.Errorf("%w: the module does not export opa_json_dump", errNoWasm)
	}
	s, err := dump.Call(ctx, res[0])
	if err != nil {
		return nil, fmt.Errorf("dumping %s: %w", export, err)
	}
	text, err := in.cstring(uint32(s[0]))
	if err != nil {
		return nil, err
	}
	var m map[string]int32
	if err := json.Unmarshal(text, &m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", export, err)
	}
	return m, nil
}

// hostModule instantiates the module "env" the policy imports functions
// from. Its functions find the calling instance through e.live.
func (e *wasmEngine) hostModule(ctx context.Context) error {
	i32 := api.ValueTypeI32
	b := e.rt.NewHostModuleBuilder("env")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(e.opaAbort), []api.ValueType{i32}, nil).
		Export("opa_abort")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(e.opaPrintln), []api.ValueType{i32}, nil).
		Export("opa_println")
	for n := range 5 {
		params := make([]api.ValueType, 2+n)
		for i := range params {
			params[i] = i32
		}
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			e.opaBuiltin(ctx, m, stack, n)
		}), params, []api.ValueType{i32}).Export("opa_builtin" + strconv.Itoa(n))
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiating the host module: %w", err)
	}
	return nil
}

// newInstance instantiates the policy module and loads the data into it.
func (e *wasmEngine) newInstance(ctx context.Context) (*wasmInstance, error) {
	mod, err := e.rt.InstantiateModule(ctx, e.compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return nil, fmt.Errorf("instantiating the policy module: %w", err)
	}
	in := &wasmInstance{
		e:          e,
		mod:        mod,
		mem:        mod.Memory(),
		eval:       mod.ExportedFunction("opa_eval"),
		malloc:     mod.ExportedFunction("opa_malloc"),
		valueParse: mod.ExportedFunction("opa_value_parse"),
		valueDump:  mod.ExportedFunction("opa_value_dump"),
	}
	jsonParse := mod.ExportedFunction("opa_json_parse")
	heapGet := mod.ExportedFunction("opa_heap_ptr_get")
	if in.mem == nil || in.eval == nil || in.malloc == nil || in.valueParse == nil || in.valueDump == nil ||
		jsonParse == nil || heapGet == nil {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("%w: the module lacks exports of ABI 1.2", errNoWasm)
	}
	in.iter = in.setOut
	e.live.Store(mod, in)
	fail := func(err error) (*wasmInstance, error) {
		e.closeInstance(in)
		return nil, err
	}
	addr, err := in.alloc(ctx, e.data)
	if err != nil {
		return fail(fmt.Errorf("loading data: %w", err))
	}
	in.stack[0], in.stack[1] = uint64(addr), uint64(len(e.data))
	if err := jsonParse.CallWithStack(ctx, in.stack[:]); err != nil {
		return fail(fmt.Errorf("loading data: %w", err))
	}
	if in.dataAddr = uint32(in.stack[0]); in.dataAddr == 0 {
		return fail(errors.New("loading data: the policy module cannot parse the data document"))
	}
	if err := heapGet.CallWithStack(ctx, in.stack[:]); err != nil {
		return fail(fmt.Errorf("loading data: %w", err))
	}
	in.evalHeap = uint32(in.stack[0])
	return in, nil
}

func (in *wasmInstance) setOut(t *ast.Term) error {
	in.out = t
	return nil
}

// alloc copies p into guest memory allocated with opa_malloc.
func (in *wasmInstance) alloc(ctx context.Context, p []byte) (uint32, error) {
	in.cstack[0] = uint64(len(p))
	if err := in.malloc.CallWithStack(ctx, in.cstack[:]); err != nil {
		return 0, err
	}
	addr := uint32(in.cstack[0])
	if !in.mem.Write(addr, p) {
		return 0, fmt.Errorf("opa_malloc returned %d, outside memory", addr)
	}
	return addr, nil
}

// cstring returns the NUL-terminated string at addr, a view of guest
// memory valid until the guest runs again.
func (in *wasmInstance) cstring(addr uint32) ([]byte, error) {
	size := in.mem.Size()
	if addr >= size {
		return nil, fmt.Errorf("string address %d outside memory", addr)
	}
	b, _ := in.mem.Read(addr, size-addr)
	n := bytes.IndexByte(b, 0)
	if n < 0 {
		return nil, errors.New("unterminated string in guest memory")
	}
	return b[:n:n], nil
}

// get takes an idle instance, replacing discarded ones, or waits for one.
func (e *wasmEngine) get(ctx context.Context) (*wasmInstance, error) {
	select {
	case in := <-e.pool:
		return in, nil
	default:
	}
	for {
		n := e.count.Load()
		if n >= e.size {
			break
		}
		if e.count.CompareAndSwap(n, n+1) {
			// The replacement of a discarded instance.
			in, err := e.newInstance(ctx)
			if err != nil {
				e.count.Add(-1)
				return nil, err
			}
			e.log.Info("policy wasm instance replaced", "policy", e.name)
			return in, nil
		}
	}
	select {
	case in := <-e.pool:
		return in, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *wasmEngine) put(in *wasmInstance) { e.pool <- in }

// discard closes an instance whose guest failed; get replaces it.
func (e *wasmEngine) discard(in *wasmInstance) {
	e.closeInstance(in)
	e.count.Add(-1)
}

func (e *wasmEngine) closeInstance(in *wasmInstance) {
	e.live.Delete(in.mod)
	_ = in.mod.Close(context.Background())
}

func (e *wasmEngine) close(ctx context.Context) error {
	if e.closed.Swap(true) {
		return nil
	}
	return e.rt.Close(ctx)
}

// wasmAbort is the guest calling opa_abort.
type wasmAbort struct{ msg string }

func (a *wasmAbort) Error() string { return "policy module aborted: " + a.msg }

func (e *wasmEngine) opaAbort(_ context.Context, m api.Module, stack []uint64) {
	msg := "(unreadable message)"
	if in, ok := e.live.Load(m); ok {
		if b, err := in.(*wasmInstance).cstring(uint32(stack[0])); err == nil {
			msg = string(b)
		}
	}
	panic(&wasmAbort{msg: msg})
}

func (e *wasmEngine) opaPrintln(ctx context.Context, m api.Module, stack []uint64) {
	if in, ok := e.live.Load(m); ok {
		if b, err := in.(*wasmInstance).cstring(uint32(stack[0])); err == nil {
			e.log.Debug("policy print", "policy", e.name, "msg", string(b))
		}
	}
}

// opaBuiltin runs builtin stack[0] with the n values at stack[2:2+n] and
// returns the address of its result, 0 when undefined. An error is kept
// for evaluate (the evaluation fails, as topdown's strict builtin errors
// do) and the builtin is undefined to the guest meanwhile.
func (e *wasmEngine) opaBuiltin(ctx context.Context, m api.Module, stack []uint64, n int) {
	v, ok := e.live.Load(m)
	if !ok {
		panic(errors.New("opa_builtin called by an unknown instance"))
	}
	in := v.(*wasmInstance)
	id := int32(uint32(stack[0]))
	var addrs [4]uint32
	for i := range n {
		addrs[i] = uint32(stack[2+i])
	}
	stack[0] = 0
	if in.berr != nil {
		return
	}
	b := e.builtins[id]
	if b == nil {
		in.berr = fmt.Errorf("the policy module called unknown builtin %d", id)
		return
	}
	args := in.args[:n]
	for i := range n {
		t, err := in.readValue(ctx, addrs[i])
		if err != nil {
			in.berr = fmt.Errorf("%s: reading argument %d: %w", b.name, i+1, err)
			return
		}
		args[i] = t
	}
	// ctx is the evaluation's, which wazero hands to host functions. Time
	// and Cache stay unset: the builtins reading them (time.now_ns,
	// http.send, rand.intn, uuid.rfc4122, net.lookup_ip_addr,
	// io.jwt.decode_verify) are topdownOnly.
	bctx := topdown.BuiltinContext{
		Context: ctx,
		Metrics: e.metrics,
		Seed:    rand.Reader,
		Cancel:  e.cancel,
	}
	in.out = nil
	err := b.fn(bctx, args, in.iter)
	clear(args)
	out := in.out
	in.out = nil
	if err != nil {
		in.berr = fmt.Errorf("%s: %w", b.name, err)
		return
	}
	if out == nil {
		return
	}
	addr, err := in.writeValue(ctx, out.Value)
	if err != nil {
		in.berr = fmt.Errorf("%s: returning its result: %w", b.name, err)
		return
	}
	stack[0] = uint64(addr)
}

// evaluate evaluates the policy for x on an instance of the pool.
func (e *wasmEngine) evaluate(ctx context.Context, s *Stage, x *exchange.Exchange) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, &EvalError{Policy: s.name, Reason: "evaluation failed", Err: err}
	}
	in, err := e.get(ctx)
	if err != nil {
		return Decision{}, &EvalError{Policy: s.name, Reason: "evaluation failed", Err: err}
	}
	deny, err := in.input.build(s, x, s.needs)
	if err != nil || deny != nil {
		e.put(in)
		if deny != nil {
			return *deny, nil
		}
		return Decision{}, err
	}
	text, err := in.run(ctx, in.input.buf)
	if err != nil {
		e.discard(in)
		reason := "evaluation failed"
		var abort *wasmAbort
		if errors.As(err, &abort) && strings.Contains(abort.msg, "conflict") {
			reason = "conflicting decisions"
		}
		return Decision{}, &EvalError{Policy: s.name, Reason: reason, Err: err}
	}
	if in.berr != nil {
		err := in.berr
		e.put(in)
		return Decision{}, &EvalError{Policy: s.name, Reason: "evaluation failed", Err: err}
	}
	d, err := in.dec.result(text)
	e.put(in)
	if err != nil {
		var ee *EvalError
		if errors.As(err, &ee) {
			ee.Policy = s.name
			return Decision{}, ee
		}
		return Decision{}, &EvalError{Policy: s.name, Reason: "evaluation failed", Err: err}
	}
	return d, nil
}

// run evaluates the entrypoint with input (JSON) and returns the result
// set in OPA's value format, a view of guest memory valid until the
// instance runs again. An error means the guest failed: the instance
// must be discarded.
func (in *wasmInstance) run(ctx context.Context, input []byte) ([]byte, error) {
	in.berr = nil
	addr := in.evalHeap
	end := uint64(addr) + uint64(len(input))
	if size := uint64(in.mem.Size()); end+64<<10 > size {
		// The input plus room for evaluation; the guest grows memory
		// itself past that.
		pages := (end + 64<<10 - size + 65535) / 65536
		if _, ok := in.mem.Grow(uint32(pages)); !ok {
			return nil, fmt.Errorf("input of %d bytes does not fit in the policy's memory", len(input))
		}
	}
	if !in.mem.Write(addr, input) {
		return nil, errors.New("writing the input to guest memory")
	}
	st := in.stack[:7]
	st[0], st[1], st[2] = 0, uint64(uint32(in.e.entrypoint)), uint64(in.dataAddr)
	st[3], st[4], st[5], st[6] = uint64(addr), uint64(len(input)), end, 1 // 1: value format
	if err := in.eval.CallWithStack(ctx, st); err != nil {
		return nil, guestError(err)
	}
	return in.cstring(uint32(st[0]))
}

// guestError shortens what wazero returns for a trap or a panic of a
// host function (it appends the wasm stack trace).
func guestError(err error) error {
	var abort *wasmAbort
	if errors.As(err, &abort) {
		return abort
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return errors.New(msg)
}
