package wasmhost

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmgate/wasmgate/wasmhost/internal/abi"
	"github.com/wasmgate/wasmgate/wasmhost/internal/rewrite"
)

// PluginConfig configures one plugin. Load copies what it keeps; the byte
// slices may be reused by the caller afterwards.
type PluginConfig struct {
	// Name is the plugin's name (property plugin_name, log attribute).
	Name string
	// RootID is the root context id (property plugin_root_id); SDKs use it to
	// pick a root context implementation. Often empty.
	RootID string
	// VMID scopes shared data and shared queues: plugins with the same VMID
	// share them (property plugin_vm_id). Empty is a valid id.
	VMID string
	// Wasm is the module binary.
	Wasm []byte
	// VMConfig and PluginConfig are handed to proxy_on_vm_start and
	// proxy_on_configure.
	VMConfig, PluginConfig []byte
	// PoolSize is the number of instances (default GOMAXPROCS). Each serves
	// one callback at a time.
	PoolSize int
	// MemoryLimitPages caps each instance's memory in 64 KiB pages (default
	// 1024 = 64 MiB; at most 65536).
	MemoryLimitPages uint32
	// CallTimeout bounds every callback (default 1s; start-up calls get ten
	// times as much). The module is instrumented at load (see
	// internal/rewrite) so that the watchdog can stop it; that costs a few
	// percent of guest speed. Negative disables the deadline and the
	// instrumentation, but a looping guest then hangs its caller forever.
	// Use that only for trusted, built-in filters.
	CallTimeout time.Duration
	// ContextDeadlines enforces CallTimeout with wazero's
	// WithCloseOnContextDone instead of instrumenting the module: no
	// rewrite, but every call into the guest costs a goroutine and a
	// channel (several microseconds per request). Modules that cannot be
	// instrumented fall back to it by themselves (logged at warning level).
	ContextDeadlines bool
	// Logger receives the plugin's proxy_log and stdout/stderr output (the
	// host's logger if nil). Its level decides proxy_get_log_level.
	Logger *slog.Logger
	// HTTPCall performs proxy_http_call. Nil: every call fails with
	// BAD_ARGUMENT, as for an unknown upstream.
	HTTPCall HTTPCallFunc
}

// Plugin is a loaded filter with its instance pool. It is safe for
// concurrent use.
type Plugin struct {
	h        *Host
	cfg      PluginConfig
	log      *slog.Logger
	logLevel uint32 // lowest proxy log level the logger accepts

	rt       wazero.Runtime
	compiled wazero.CompiledModule
	exports  exportSet
	// instrumented: the module was rewritten, the watchdog kills a
	// callback by setting the kill global (else wazero watches contexts).
	instrumented bool

	life   context.Context // cancelled by Close
	cancel context.CancelFunc

	ticks atomic.Int64 // watchdog ticks so far: the clock of call deadlines
	slots []atomic.Pointer[instance]
	rr    atomic.Uint32

	mu     sync.Mutex
	live   map[*instance]struct{} // for the watchdog
	closed bool
	wg     sync.WaitGroup

	ctxPool sync.Pool
}

// Load compiles cfg.Wasm (through the host's compilation cache), checks its
// exports and imports, and starts cfg.PoolSize instances. Errors wrap the
// Err* load errors of this package.
func (h *Host) Load(ctx context.Context, cfg PluginConfig) (p *Plugin, err error) {
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = runtime.GOMAXPROCS(0)
	}
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = 1024
	}
	if cfg.MemoryLimitPages > 65536 {
		return nil, fmt.Errorf("wasmhost: plugin %q: MemoryLimitPages %d exceeds 65536", cfg.Name, cfg.MemoryLimitPages)
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = h.cfg.Logger
	}
	cfg.Wasm = slices.Clone(cfg.Wasm)
	cfg.VMConfig = slices.Clone(cfg.VMConfig)
	cfg.PluginConfig = slices.Clone(cfg.PluginConfig)

	p = &Plugin{
		h:    h,
		cfg:  cfg,
		log:  cfg.Logger.With("plugin", cfg.Name),
		live: make(map[*instance]struct{}),
	}
	p.logLevel = proxyLogLevel(ctx, p.log)
	p.life, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			_ = p.Close(context.WithoutCancel(ctx))
			p = nil
		}
	}()

	wasm := cfg.Wasm
	if cfg.CallTimeout > 0 && !cfg.ContextDeadlines {
		if res, err := rewrite.Instrument(wasm); err != nil {
			p.log.Warn("wasm module not instrumented; deadlines use wazero's slower per-call context watch",
				"error", err)
		} else {
			wasm, p.instrumented = res.Wasm, true
		}
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(h.cache).
		WithCloseOnContextDone(cfg.CallTimeout > 0 && !p.instrumented).
		WithMemoryLimitPages(cfg.MemoryLimitPages)
	p.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := p.instantiateHostModules(ctx); err != nil {
		return p, fmt.Errorf("wasmhost: plugin %q: host modules: %w", cfg.Name, err)
	}
	p.compiled, err = compile(ctx, p.rt, wasm)
	p.cfg.Wasm = nil // wazero keeps what it needs
	if err != nil {
		return p, fmt.Errorf("wasmhost: plugin %q: %w: %w", cfg.Name, ErrInvalidModule, err)
	}
	if err := p.checkModule(); err != nil {
		return p, fmt.Errorf("wasmhost: plugin %q: %w", cfg.Name, err)
	}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return p, fmt.Errorf("wasmhost: plugin %q: %w", cfg.Name, ErrClosed)
	}
	h.plugins[p] = struct{}{}
	h.mu.Unlock()

	if cfg.CallTimeout > 0 {
		p.wg.Go(p.watchdog)
	}
	p.slots = make([]atomic.Pointer[instance], cfg.PoolSize)
	for i := range p.slots {
		in, err := p.newInstance(ctx)
		if err != nil {
			return p, fmt.Errorf("wasmhost: plugin %q: %w", cfg.Name, err)
		}
		p.slots[i].Store(in)
	}
	return p, nil
}

// Name returns the plugin's configured name.
func (p *Plugin) Name() string { return p.cfg.Name }

// Close shuts every instance down (proxy_on_done, then proxy_on_delete on
// the root context; a plugin that answers false to proxy_on_done gets until
// ctx is done, at most ten CallTimeouts, to call proxy_done), fails the streams still bound to them
// with ErrInstanceLost/ErrClosed and frees the runtime.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()

	for i := range p.slots {
		if in := p.slots[i].Load(); in != nil {
			in.shutdown(ctx)
		}
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	p.mu.Lock()
	rest := make([]*instance, 0, len(p.live))
	for in := range p.live {
		rest = append(rest, in)
	}
	p.mu.Unlock()
	for _, in := range rest {
		in.shutdown(ctx)
	}
	if p.h != nil {
		p.h.mu.Lock()
		delete(p.h.plugins, p)
		p.h.mu.Unlock()
	}
	if p.rt != nil {
		return p.rt.Close(ctx)
	}
	return nil
}

func (p *Plugin) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// watchPeriod is the watchdog's tick: deadlines are counted in ticks, so
// that starting a call costs an atomic load instead of reading the clock.
func (p *Plugin) watchPeriod() time.Duration { return max(p.cfg.CallTimeout/4, time.Millisecond) }

// deadlineAfter returns the tick after which a call of the given budget
// that starts now has overrun: between budget and budget plus one period
// from now (later if the watchdog falls behind, never earlier).
func (p *Plugin) deadlineAfter(budget time.Duration) int64 {
	period := p.watchPeriod()
	return p.ticks.Load() + int64((budget+period-1)/period)
}

// compile compiles wasm, turning a panic of wazero's validator (which
// 1.12 has on some malformed modules) into an error.
func compile(ctx context.Context, rt wazero.Runtime, wasm []byte) (m wazero.CompiledModule, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("wazero panicked: %v", r)
		}
	}()
	return rt.CompileModule(ctx, wasm)
}

// watchdog kills the callbacks that overran: it sets the kill global of
// instrumented instances and closes the call context (which stops WASI
// sleeps and, for modules not instrumented, makes wazero close the module).
func (p *Plugin) watchdog() {
	t := time.NewTicker(p.watchPeriod())
	defer t.Stop()
	var ins []*instance
	for {
		select {
		case <-p.life.Done():
			return
		case <-t.C:
		}
		now := p.ticks.Add(1)
		ins = ins[:0]
		p.mu.Lock()
		for in := range p.live {
			ins = append(ins, in)
		}
		p.mu.Unlock()
		for _, in := range ins {
			if d := in.deadline.Load(); d > 0 && now > d && in.deadline.CompareAndSwap(d, -1) {
				if in.killGlobal != nil {
					in.killGlobal.Set(1) // the guest traps at its next poll
				}
				close(in.kill)
			}
		}
	}
}

// replace starts a goroutine that puts a fresh instance into old's slot.
func (p *Plugin) replace(old *instance) {
	p.wg.Go(func() {
		defer close(old.replaced)
		backoff := 10 * time.Millisecond
		for {
			in, err := p.newInstance(p.life)
			if err == nil {
				for i := range p.slots {
					if p.slots[i].CompareAndSwap(old, in) {
						return
					}
				}
				in.shutdown(p.life) // not in a slot anymore (closing)
				return
			}
			if p.life.Err() != nil {
				return
			}
			p.log.Error("wasm instance replacement failed", "error", err)
			select {
			case <-p.life.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	})
}

// pick returns a healthy instance, already acquired. It prefers a free
// instance no stream is bound to (paused streams included), then any free
// one, then waits for one: while there are fewer concurrent streams than
// instances, a stream that kills its instance has no bystanders.
func (p *Plugin) pick(ctx context.Context) (*instance, error) {
	n := uint32(len(p.slots))
	for {
		if p.isClosed() {
			return nil, ErrClosed
		}
		start := p.rr.Add(1)
		for pass := range 2 {
			for i := range n {
				in := p.slots[(start+i)%n].Load()
				if in.dead.Load() || pass == 0 && in.bound.Load() != 0 {
					continue
				}
				if in.tryAcquire() {
					if !in.dead.Load() && (pass == 1 || in.bound.Load() == 0) {
						return in, nil
					}
					in.release()
				}
			}
		}
		in := p.slots[start%n].Load()
		if in.dead.Load() {
			select {
			case <-in.replaced:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if err := in.acquire(ctx); err != nil {
			return nil, err
		}
		if !in.dead.Load() {
			return in, nil
		}
		in.release()
	}
}

// exportSet records which callbacks the module exports.
type exportSet struct {
	abi   string
	alloc string
	start []string // in call order
	main  bool
	// the module exports proxy_on_request_trailers, proxy_on_response_trailers
	reqTrailers, respTrailers bool
}

// HandlesTrailers reports whether the module exports
// proxy_on_request_trailers and proxy_on_response_trailers. Calling
// HTTPContext.OnRequestTrailers or OnResponseTrailers of a plugin without
// the callback does nothing, so an embedder may use this to skip the work
// of delivering trailers to it. (SDK-built modules usually export both.)
func (p *Plugin) HandlesTrailers() (request, response bool) {
	return p.exports.reqTrailers, p.exports.respTrailers
}

func (p *Plugin) checkModule() error {
	fns := p.compiled.ExportedFunctions()
	switch {
	case fns[abi.ExportABI021] != nil:
		p.exports.abi = abi.ExportABI021
	case fns[abi.ExportABI020] != nil:
		p.exports.abi = abi.ExportABI020
	case fns[abi.ExportABI010] != nil:
		return fmt.Errorf("%w: module exports %s; 0.2.0 or 0.2.1 needed", ErrUnsupportedABI, abi.ExportABI010)
	default:
		return ErrNoABIMarker
	}
	switch {
	case fns["proxy_on_memory_allocate"] != nil:
		p.exports.alloc = "proxy_on_memory_allocate"
	case fns["malloc"] != nil:
		p.exports.alloc = "malloc"
	default:
		return ErrNoAllocator
	}
	if d := fns[p.exports.alloc]; len(d.ParamTypes()) != 1 || len(d.ResultTypes()) != 1 {
		return fmt.Errorf("%w: %s must be (i32) -> i32", ErrInvalidModule, p.exports.alloc)
	}
	if _, ok := p.compiled.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("%w: no exported memory named \"memory\"", ErrInvalidModule)
	}
	p.exports.reqTrailers = fns[callbackName(cbRequestTrailers)] != nil
	p.exports.respTrailers = fns[callbackName(cbResponseTrailers)] != nil
	switch {
	case fns["_initialize"] != nil:
		p.exports.start = []string{"_initialize"}
		p.exports.main = fns["main"] != nil
	case fns["_start"] != nil:
		p.exports.start = []string{"_start"}
	}
	for _, f := range p.compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		if !p.provides(mod, name) {
			return fmt.Errorf("%w: %s.%s", ErrUnresolvedImport, mod, name)
		}
	}
	return nil
}

func (p *Plugin) provides(mod, name string) bool {
	for _, m := range p.rt.Module(mod).ExportedFunctionDefinitions() {
		if m.Name() == name {
			return true
		}
	}
	return false
}

func (p *Plugin) instantiateHostModules(ctx context.Context) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return err
	}
	b := p.rt.NewHostModuleBuilder("wasi_unstable")
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	if _, err := b.Instantiate(ctx); err != nil {
		return err
	}
	env := p.rt.NewHostModuleBuilder("env")
	for _, f := range hostFuncs() {
		params := make([]api.ValueType, len(f.params))
		for i, c := range f.params {
			params[i] = api.ValueTypeI32
			if c == 'I' {
				params[i] = api.ValueTypeI64
			}
		}
		fn := f.fn
		var results []api.ValueType
		if !f.void {
			results = []api.ValueType{api.ValueTypeI32}
		}
		void := f.void
		env.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, s []uint64) {
				in := instanceFrom(ctx)
				var st abi.Status
				if in == nil || in.dead.Load() || in.mem == nil {
					st = abi.StatusInternalFailure
				} else {
					st = fn(in, s)
				}
				if !void {
					s[0] = uint64(st)
				}
			}), params, results).
			WithName(f.name).
			Export(f.name)
	}
	_, err := env.Instantiate(ctx)
	return err
}

// proxyLogLevel returns the lowest ABI log level the logger accepts.
func proxyLogLevel(ctx context.Context, l *slog.Logger) uint32 {
	for lvl := uint32(abi.LogTrace); lvl < abi.LogCritical; lvl++ {
		if l.Enabled(ctx, slogLevel(lvl)) {
			return lvl
		}
	}
	return abi.LogCritical
}

func slogLevel(l uint32) slog.Level {
	switch l {
	case abi.LogTrace:
		return slog.LevelDebug - 4
	case abi.LogDebug:
		return slog.LevelDebug
	case abi.LogInfo:
		return slog.LevelInfo
	case abi.LogWarn:
		return slog.LevelWarn
	case abi.LogError:
		return slog.LevelError
	}
	return slog.LevelError + 4
}
