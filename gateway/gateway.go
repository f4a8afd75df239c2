// Package gateway is wasmgate's composition root: it turns a *conf.Config
// into a running gateway (listeners, chains, upstreams), swaps in a new
// config atomically on reload, and drains in-flight requests on shutdown.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/wasmhost"
)

// Options configures a Gateway.
type Options struct {
	// Logger receives the gateway's structured logs; nil discards them.
	Logger *slog.Logger
	// WasmCacheDir keeps compiled WASM modules on disk across restarts; ""
	// keeps them in memory (still shared across reloads).
	WasmCacheDir string
	// NativeFilter, when set, is asked first to build every filter stage.
	// It returns (nil, nil) to decline. Embedders and tests use it to plug
	// Go stages into a chain.
	NativeFilter func(s *conf.Stage) (chain.Filter, error)
}

// Gateway is a running wasmgate. Its methods are safe for concurrent use.
type Gateway struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex // serialises Start, Reload and Shutdown
	rt        *graph
	listeners map[string]*h1Listener // by listenerKey
	stopped   bool

	requestIDs atomic.Uint64
	serving    sync.WaitGroup

	mirrors        chan struct{} // semaphore of mirrored requests in flight
	mirrorsDropped atomic.Uint64

	wasm *wasmhost.Host // created with the first config

	// Metrics (metrics.go): what scrapes read of the running config;
	// configuration loads; the admin listener. Listeners hold their own
	// counters (h1Listener.stats).
	view  atomic.Pointer[metricsView]
	loads reloadStats
	admin *adminServer
	up    atomic.Bool // started and not shutting down, for /ready
}

// New returns a gateway that serves nothing until Start.
func New(opts Options) *Gateway {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gateway{opts: opts, log: log, mirrors: make(chan struct{}, maxMirrorsInFlight), listeners: map[string]*h1Listener{}}
}

// BindError is a listener (or the admin block, when Listener is "") that
// could not bind its address. Diagnostic turns
// it into an HCL diagnostic on the listener's address attribute.
type BindError struct {
	Listener string
	Address  string
	Range    hcl.Range
	Err      error
}

func (e *BindError) Error() string {
	return fmt.Sprintf("%s: cannot listen on %s: %v", e.owner(), e.Address, e.Err)
}

// owner names what could not bind: a listener, or the admin block.
func (e *BindError) owner() string {
	if e.Listener == "" {
		return "admin block"
	}
	return fmt.Sprintf("listener %q", e.Listener)
}

// Unwrap returns the underlying error.
func (e *BindError) Unwrap() error { return e.Err }

// Diagnostic returns the failure as a source-located HCL diagnostic.
func (e *BindError) Diagnostic() *hcl.Diagnostic {
	rng := e.Range
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Cannot listen on address",
		Detail:   fmt.Sprintf("The %s cannot listen on %s: %v.", e.owner(), e.Address, e.Err),
		Subject:  &rng,
	}
}

// Start builds the runtime graph from cfg and starts serving its listeners.
// Nothing is left running when it fails.
func (g *Gateway) Start(ctx context.Context, cfg *conf.Config) error {
	return g.apply(ctx, cfg, false)
}

// Reload swaps in cfg. A config that fails to build or bind leaves the old
// one serving. Listeners whose address is unchanged keep their sockets; in
// flight requests finish on the config they started with. A listener whose
// limits, protocols or plain path change gets new servers on its socket and
// the old ones drain, as on shutdown; its HTTP/3 connections too, on the UDP
// socket that the new servers take over.
func (g *Gateway) Reload(ctx context.Context, cfg *conf.Config) error {
	return g.apply(ctx, cfg, true)
}

func (g *Gateway) apply(ctx context.Context, cfg *conf.Config, reload bool) (err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return errors.New("gateway: shut down")
	}
	if !reload && g.rt != nil {
		return errors.New("gateway: already started")
	}
	defer func() { g.loads.record(err == nil) }()
	if g.wasm == nil {
		g.wasm, err = wasmhost.NewHost(wasmhost.HostConfig{CompilationCacheDir: g.opts.WasmCacheDir, Logger: g.log})
		if err != nil {
			return err
		}
	}
	rt, err := build(ctx, cfg, g.opts, g.log, g.wasm, nil, g.rt)
	if err != nil {
		return err
	}
	// Bind new addresses, and build new servers on the sockets of listeners
	// whose limits or protocols changed, first: a failure changes nothing.
	var fresh, replaced []*h1Listener
	for _, lc := range cfg.Listeners {
		var l *h1Listener
		var err error
		prev, ok := g.listeners[listenerKey(lc)]
		switch {
		case !ok:
			l, err = newH1Listener(lc, g)
		case prev.needsRebuild(lc):
			if l, err = prev.rebuild(lc); err == nil {
				replaced = append(replaced, prev)
			}
		default:
			continue
		}
		if err != nil {
			abandon(rt, fresh)
			return &BindError{Listener: lc.Name, Address: lc.Address, Range: lc.AddressRange, Err: err}
		}
		fresh = append(fresh, l)
	}
	admin, err := g.bindAdmin(cfg.Admin)
	if err != nil {
		abandon(rt, fresh)
		return err
	}
	g.resolveRedirects(cfg, rt, fresh)
	// Swap: every listener now points at the new runtime. A replaced one
	// does too, for the requests its connections still send while it drains.
	keep := map[string]bool{}
	for _, lc := range cfg.Listeners {
		keep[listenerKey(lc)] = true
		if l, ok := g.listeners[listenerKey(lc)]; ok {
			l.state.Store(rt.listeners[lc.Name])
		}
	}
	gone := replaced
	for _, l := range fresh {
		l.state.Store(rt.listeners[l.name])
		if l.h3 != nil {
			l.h3.activate()
		}
		g.listeners[listenerKey(&l.limits)] = l
		g.serving.Add(1)
		go func(l *h1Listener) {
			defer g.serving.Done()
			if err := l.serve(); err != nil {
				g.log.Error("listener stopped", "listener", l.name, "err", err)
			}
		}(l)
		g.log.Info("listening", "listener", l.name, "address", l.ln.Addr().String(), "protocol", l.limits.Protocol,
			"http2", l.h2 != nil, "http3", l.h3 != nil, "plain_path", l.plain != nil)
	}
	old := g.rt
	g.rt = rt
	for addr, l := range g.listeners {
		if !keep[addr] {
			gone = append(gone, l)
			delete(g.listeners, addr)
		}
	}
	g.swapAdmin(ctx, cfg.Admin, admin)
	g.publishView(cfg)
	g.up.Store(true)
	for _, l := range gone {
		if err := l.shutdown(ctx); err != nil {
			g.log.Warn("listener drain incomplete", "listener", l.name, "err", err)
		}
	}
	if old != nil {
		// Upstream pools close idle connections now and busy ones as their
		// requests finish, so requests in flight on the old config complete.
		old.close()
		g.log.Info("configuration reloaded", "listeners", len(cfg.Listeners), "upstreams", len(cfg.Upstreams), "chains", len(cfg.Chains))
	}
	return nil
}

// abandon releases what a failed apply built: the runtime graph and the
// listeners it bound, none of which served.
func abandon(rt *graph, fresh []*h1Listener) {
	for _, f := range fresh {
		f.release()
	}
	rt.close()
}

// listenerKey identifies a listener's socket across reloads: its address,
// or for port 0 (a new port every time) its name and address.
func listenerKey(lc *conf.Listener) string {
	if _, port, err := net.SplitHostPort(lc.Address); err == nil && port != "0" {
		return lc.Address
	}
	return lc.Name + "@" + lc.Address
}

// resolveRedirects gives every redirecting listener state of rt the port
// of its https listener, bound by now (in fresh, or kept from before).
func (g *Gateway) resolveRedirects(cfg *conf.Config, rt *graph, fresh []*h1Listener) {
	for _, st := range rt.listeners {
		if !st.redirectHTTPS {
			continue
		}
		target := cfg.Listener(st.redirectTo)
		if target == nil {
			continue
		}
		l := g.listeners[listenerKey(target)]
		for _, f := range fresh {
			if listenerKey(&f.limits) == listenerKey(target) {
				l = f
			}
		}
		if l == nil {
			continue
		}
		if p := portString(l.ln.Addr()); p != "443" {
			st.redirectPort = p
		}
	}
}

// AdminAddr returns the bound address of the admin listener, or nil when
// the config has no admin block.
func (g *Gateway) AdminAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.admin == nil {
		return nil
	}
	return g.admin.ln.Addr()
}

// RejectedConfig records a configuration that failed to load before it
// reached Reload (a syntax or validation error), so that the metrics count
// it among the failed loads.
func (g *Gateway) RejectedConfig() { g.loads.record(false) }

// Addr returns the bound address of the named listener, or nil.
func (g *Gateway) Addr(listener string) net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range g.listeners {
		if l.name == listener {
			return l.ln.Addr()
		}
	}
	return nil
}

// Shutdown stops accepting, waits for in-flight requests until ctx is done,
// then releases everything.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return nil
	}
	g.stopped = true
	g.up.Store(false)
	var errs []error
	for addr, l := range g.listeners {
		if err := l.shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("listener %q: %w", l.name, err))
		}
		delete(g.listeners, addr)
	}
	g.serving.Wait()
	if g.admin != nil {
		g.admin.close(ctx)
		g.admin = nil
	}
	if g.rt != nil {
		g.rt.close()
		g.rt = nil
	}
	if g.wasm != nil {
		if err := g.wasm.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Check builds cfg's runtime graph without binding anything and reports what
// would fail to start (a module that does not load, a stage this build
// cannot run) as diagnostics on the offending attribute. wasmgate validate
// uses it.
func Check(ctx context.Context, cfg *conf.Config, opts Options) hcl.Diagnostics {
	var diags hcl.Diagnostics
	log := slog.New(slog.DiscardHandler)
	host, err := wasmhost.NewHost(wasmhost.HostConfig{CompilationCacheDir: opts.WasmCacheDir, Logger: log})
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "WASM host unavailable", Detail: err.Error()}}
	}
	defer host.Close(ctx)
	env := &stageEnv{opts: opts, log: log, wasm: host, names: configNames(cfg)}
	// Stages built here are handed to build below rather than built twice
	// (a WASM stage loads its module and starts an instance pool); what
	// build does not take is closed at the end.
	built := map[*conf.Stage]chain.Filter{}
	defer func() {
		for _, f := range built {
			if c, ok := f.(stageCloser); ok {
				_ = c.Close(ctx)
			}
		}
	}()
	for _, cc := range cfg.Chains {
		stages := cc.Stages
		if needsRoutes(cc) {
			// Check the routing stage with the route table of one listener
			// that uses the chain (each listener gets its own at run time).
			for _, lc := range cfg.Listeners {
				if lc.Chain == cc.Name {
					if ls, err := listenerStages(cfg, cc, lc); err == nil {
						stages = ls
					}
					break
				}
			}
		}
		for _, sc := range stages {
			f, err := buildStage(ctx, sc, env)
			if pd := policyDiagnostics(cfg, cc.Name, sc, err); pd != nil {
				diags = append(diags, pd...)
				continue
			}
			if err != nil {
				rng := sc.DeclRange
				if sc.Kind == conf.StageFilter {
					rng = sc.ModuleRange
				}
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Stage cannot be built",
					Detail:   fmt.Sprintf("Stage %q of chain %q: %v.", sc.Name, cc.Name, err),
					Subject:  &rng,
				})
				continue
			}
			built[sc] = f
		}
	}
	if diags.HasErrors() {
		return diags
	}
	rt, err := build(ctx, cfg, opts, log, host, built, nil)
	var ce *ConfigError
	if errors.As(err, &ce) {
		return append(diags, ce.Diagnostics...)
	}
	if err != nil {
		return append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Configuration cannot be built", Detail: err.Error()})
	}
	rt.close()
	return diags
}

// statsFor returns the counters for a listener named name: those of the
// running listener of that name, so that they carry over a reload that
// rebuilds or moves it, else new ones. Called with g.mu held.
func (g *Gateway) statsFor(name string) *listenerStats {
	for _, l := range g.listeners {
		if l.name == name {
			return l.stats
		}
	}
	return newListenerStats(name)
}

// publishView makes the running listeners (ordered by name, so scrapes
// list series in a stable order) and the config's upstreams what scrapes
// report.
func (g *Gateway) publishView(cfg *conf.Config) {
	v := &metricsView{}
	for _, l := range g.listeners {
		v.listeners = append(v.listeners, l.stats)
	}
	slices.SortFunc(v.listeners, func(a, b *listenerStats) int { return strings.Compare(a.name, b.name) })
	for _, uc := range cfg.Upstreams {
		if u := g.rt.upstreams[uc.Name]; u != nil {
			v.upstreams = append(v.upstreams, u)
		}
	}
	g.view.Store(v)
}

// bindAdmin returns a new admin server when ac needs one bound (a new
// admin block, or a new address), else nil.
func (g *Gateway) bindAdmin(ac *conf.Admin) (*adminServer, error) {
	if ac == nil || g.admin != nil && g.admin.address == ac.Address {
		return nil, nil
	}
	a, err := newAdminServer(ac, g)
	if err != nil {
		return nil, &BindError{Address: ac.Address, Range: ac.AddressRange, Err: err}
	}
	return a, nil
}

// swapAdmin puts fresh (when bound) in place of the running admin server,
// or updates the running one's allow list, or stops it when ac is nil.
func (g *Gateway) swapAdmin(ctx context.Context, ac *conf.Admin, fresh *adminServer) {
	switch {
	case fresh != nil:
		if g.admin != nil {
			g.admin.close(ctx)
		}
		g.admin = fresh
		go fresh.serve()
		g.log.Info("admin listening", "address", fresh.ln.Addr().String())
	case ac == nil && g.admin != nil:
		g.admin.close(ctx)
		g.admin = nil
	case ac != nil:
		g.admin.setAllow(ac.Allow)
	}
}
