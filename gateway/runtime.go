package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/gateway/policy"
	"github.com/wasmgate/wasmgate/gateway/upstream"
	"github.com/wasmgate/wasmgate/wasmhost"
)

// graph is the live object graph built from one config. It is immutable
// once built; a reload builds a new one and swaps it in.
type graph struct {
	upstreams map[string]*upstream.Upstream
	chains    map[string]*chain.Chain
	listeners map[string]*listenerState
	stages    []chain.Filter
	logs      map[string]*accessLog // by destination
}

// listenerState is what a listener's request path needs, resolved once per
// config so the hot path does no lookups by name except for routed upstreams.
type listenerState struct {
	// accessLog receives one line per request; nil when off.
	accessLog *accessLog
	// bodyLimit is the largest request body a stage of the chain wants to
	// read whole (0: bodies stream past the chain).
	bodyLimit       int64
	name            string
	chain           *chain.Chain
	defaultUpstream *upstream.Upstream
	upstreams       map[string]*upstream.Upstream
	allow           []netip.Prefix
	maxBody         int64

	// scheme is "https" on TLS listeners, else "http".
	scheme string
	// tls holds the certificates and client CAs; nil on plain listeners.
	tls *serverTLS
	// redirectHTTPS answers every allowed request with a 301 to https on
	// redirectPort ("" for 443), filled in when listeners are bound.
	redirectHTTPS bool
	redirectTo    string // the https listener's name
	redirectPort  string

	// plain is the upstream whose requests the plain path (plain_linux.go)
	// may forward; nil when the listener's config needs the general path.
	plain *upstream.Upstream
}

// plainUpstream returns the upstream that the plain path may forward st's
// requests to: a listener without TLS, chain, allow list or redirect,
// whose default upstream the plain path can reach. The plain
// path also needs a plain HTTP/1.1 socket (no h2c, no HTTP/3), which the
// listener checks.
func plainUpstream(st *listenerState) *upstream.Upstream {
	if st.tls != nil || st.chain.HasStages() || len(st.allow) > 0 || st.redirectHTTPS {
		return nil
	}
	if u := st.defaultUpstream; u != nil && u.PlainPath() {
		return u
	}
	return nil
}

// allowed reports whether the source address passes the allow list.
func (s *listenerState) allowed(a netip.Addr) bool { return allowedBy(s.allow, a) }

// allowedBy reports whether a is in one of the prefixes of an allow list;
// an empty list allows every address.
func allowedBy(allow []netip.Prefix, a netip.Addr) bool {
	if len(allow) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// build turns a validated config into live objects. This is the only place
// conf types become runtime objects.
//
// prebuilt holds stages already built for these very conf.Stages (by
// Check, which builds each stage alone to place its diagnostics); build
// takes them instead of building them again and removes them from the map.
func build(ctx context.Context, cfg *conf.Config, opts Options, log *slog.Logger, wasm *wasmhost.Host, prebuilt map[*conf.Stage]chain.Filter, prev *graph) (_ *graph, err error) {
	rt := &graph{
		upstreams: map[string]*upstream.Upstream{},
		chains:    map[string]*chain.Chain{},
		listeners: map[string]*listenerState{},
	}
	defer func() {
		if err != nil {
			rt.close()
		}
	}()
	for _, uc := range cfg.Upstreams {
		on, err := upstream.ParseRetryOn(uc.Retry.On)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", uc.Name, err)
		}
		var old *upstream.Upstream
		if prev != nil {
			old = prev.upstreams[uc.Name]
		}
		eps := make([]upstream.EndpointConfig, 0, len(uc.Endpoints))
		for _, e := range uc.Endpoints {
			eps = append(eps, upstream.EndpointConfig{Address: e.Address, Weight: e.Weight, Counters: countersOf(old, e.Address)})
		}
		utls, diags := upstreamTLS(uc)
		if diags.HasErrors() {
			return nil, &ConfigError{Diagnostics: diags}
		}
		ucfg := upstream.Config{
			Protocol:       uc.Protocol,
			TLS:            utls,
			Name:           uc.Name,
			Balancer:       uc.Balancer,
			Endpoints:      eps,
			Timeout:        uc.Timeout,
			ConnectTimeout: uc.ConnectTimeout,
			IdleTimeout:    uc.IdleTimeout,
			MaxConnections: uc.MaxConnections,
			RetryAttempts:  uc.Retry.Attempts,
			RetryOn:        on,
		}
		// Health checks, outlier detection, affinity, circuit breaking,
		// slow start and the retry details: see health_conf.go.
		trafficConfig(uc, &ucfg, log)
		u, err := upstream.New(ucfg)
		if err != nil {
			return nil, err
		}
		rt.upstreams[uc.Name] = u
	}
	env := &stageEnv{opts: opts, log: log, wasm: wasm, httpCall: rt.httpCall, prebuilt: prebuilt, names: configNames(cfg)}
	buildChain := func(cc *conf.Chain, stages []*conf.Stage) (*chain.Chain, error) {
		out := make([]chain.Stage, 0, len(stages))
		for _, sc := range stages {
			f, err := buildStage(ctx, sc, env)
			if err != nil {
				return nil, fmt.Errorf("chain %q stage %q: %w", cc.Name, sc.Name, err)
			}
			rt.stages = append(rt.stages, f)
			out = append(out, chain.Stage{Name: sc.Name, Filter: f, FailOpen: sc.Fail == conf.FailOpen})
		}
		return chain.New(out, log.With("chain", cc.Name)), nil
	}
	for _, cc := range cfg.Chains {
		if needsRoutes(cc) {
			continue // built per listener below
		}
		c, err := buildChain(cc, cc.Stages)
		if err != nil {
			return nil, err
		}
		rt.chains[cc.Name] = c
	}
	for _, lc := range cfg.Listeners {
		st := &listenerState{
			name:          lc.Name,
			upstreams:     rt.upstreams,
			allow:         lc.Allow,
			maxBody:       lc.MaxBodySize,
			scheme:        "http",
			redirectHTTPS: lc.RedirectHTTPS != "",
			redirectTo:    lc.RedirectHTTPS,
		}
		if lc.TLS != nil {
			st.scheme = "https"
			var diags hcl.Diagnostics
			st.tls, diags = loadServerTLS(lc)
			if diags.HasErrors() {
				return nil, &ConfigError{Diagnostics: diags}
			}
		}
		if lc.Chain != "" {
			st.chain = rt.chains[lc.Chain]
			if cc := cfg.Chain(lc.Chain); cc != nil && needsRoutes(cc) {
				stages, err := listenerStages(cfg, cc, lc)
				if err != nil {
					return nil, err
				}
				if st.chain, err = buildChain(cc, stages); err != nil {
					return nil, err
				}
			}
		}
		if lc.Upstream != "" {
			st.defaultUpstream = rt.upstreams[lc.Upstream]
		}
		st.bodyLimit = st.chain.BodyLimit()
		if dest := lc.AccessLog; dest != "" && dest != "off" {
			if rt.logs == nil {
				rt.logs = map[string]*accessLog{}
			}
			al := rt.logs[dest]
			if al == nil {
				if al, err = openAccessLog(dest); err != nil {
					return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
				}
				rt.logs[dest] = al
			}
			st.accessLog = al
		}
		st.plain = plainUpstream(st)
		rt.listeners[lc.Name] = st
	}
	return rt, nil
}

// routingModule is the built-in routing filter, which takes the HCL route
// blocks as its configuration when a stage gives none.
const routingModule = "builtin:routing"

// needsRoutes reports whether a chain has a routing stage that takes its
// configuration from the route blocks. Such a chain is built once per
// listener, since each listener sees its own routes and default upstream.
func needsRoutes(cc *conf.Chain) bool {
	for _, sc := range cc.Stages {
		if sc.Kind == conf.StageFilter && sc.Module == routingModule && sc.Config == "" {
			return true
		}
	}
	return false
}

// listenerStages returns cc's stages for listener lc, with the route table
// of lc as the configuration of config-less routing stages.
func listenerStages(cfg *conf.Config, cc *conf.Chain, lc *conf.Listener) ([]*conf.Stage, error) {
	out := make([]*conf.Stage, len(cc.Stages))
	for i, sc := range cc.Stages {
		out[i] = sc
		if sc.Kind == conf.StageFilter && sc.Module == routingModule && sc.Config == "" {
			routes, err := cfg.RoutingJSON(lc.Name)
			if err != nil {
				return nil, fmt.Errorf("routes of listener %q: %w", lc.Name, err)
			}
			cp := *sc
			cp.Config = string(routes)
			out[i] = &cp
		}
	}
	return out, nil
}

// errStageUnsupported is returned for stage kinds this build cannot run yet.
var errStageUnsupported = errors.New("stage kind not available in this build")

// stageEnv is what building a stage may use.
type stageEnv struct {
	opts Options
	log  *slog.Logger
	// wasm loads WASM filters; shared by every config the gateway runs so
	// compiled modules are reused across reloads.
	wasm *wasmhost.Host
	// httpCall dispatches proxy_http_call to this graph's upstreams.
	httpCall wasmhost.HTTPCallFunc
	// prebuilt stages are used once instead of building them again.
	prebuilt map[*conf.Stage]chain.Filter
	// names are the config's upstream and route names (see configNames).
	names map[string]string
}

// configNames maps each upstream and route name of cfg to itself: the
// names filters set as wasmgate.upstream and wasmgate.route, which a
// stage can then store without allocating a string per request.
func configNames(cfg *conf.Config) map[string]string {
	names := make(map[string]string, len(cfg.Upstreams)+len(cfg.Routes))
	for _, u := range cfg.Upstreams {
		names[u.Name] = u.Name
	}
	for _, r := range cfg.Routes {
		names[r.Name] = r.Name
	}
	return names
}

// stageCloser is implemented by stages that hold resources (WASM instance
// pools, decision logs); the graph closes them when it is retired.
type stageCloser interface {
	Close(ctx context.Context) error
}

func buildStage(ctx context.Context, sc *conf.Stage, env *stageEnv) (chain.Filter, error) {
	if f, ok := env.prebuilt[sc]; ok {
		delete(env.prebuilt, sc)
		return f, nil
	}
	if env.opts.NativeFilter != nil {
		f, err := env.opts.NativeFilter(sc)
		if err != nil {
			return nil, err
		}
		if f != nil {
			return f, nil
		}
	}
	switch sc.Kind {
	case conf.StageFilter:
		return buildWasmStage(ctx, sc, env)
	case conf.StagePolicy:
		// Compiled and prepared once per config; Rego problems are a
		// *policy.Error that Check turns into file:line diagnostics.
		p, err := policy.New(ctx, policy.Config{
			Name:        sc.Name,
			Files:       sc.Files,
			Dir:         sc.Dir,
			Data:        sc.Data,
			Query:       sc.Query,
			FailOpen:    sc.Fail == conf.FailOpen,
			IncludeBody: sc.IncludeBody,
			MaxBody:     sc.MaxBody,
			DecisionLog: sc.DecisionLog,
			Engine:      sc.Engine,
			Logger:      env.log.With("policy", sc.Name),
			WasmCache:   env.wasm.CompilationCache(),
		})
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, fmt.Errorf("%w: %s %q (module %q)", errStageUnsupported, sc.Kind, sc.Name, sc.Module)
}

// buildWasmStage loads a filter's module into an instance pool.
func buildWasmStage(ctx context.Context, sc *conf.Stage, env *stageEnv) (chain.Filter, error) {
	rootID := sc.RootID
	if name, ok := strings.CutPrefix(sc.Module, conf.BuiltinPrefix); ok {
		// The built-in filters share one module (so they share its
		// compiled code) and each runs under its own name as root id.
		if rootID != "" && rootID != name {
			return nil, fmt.Errorf("root_id %q: %s always runs under root id %q; leave root_id unset", rootID, sc.Module, name)
		}
		rootID = name
	}
	wasm, err := loadModule(sc.Module)
	if err != nil {
		return nil, err
	}
	pages := uint32(0)
	if sc.MemoryLimit > 0 {
		pages = uint32((sc.MemoryLimit + 65535) / 65536)
	}
	p, err := env.wasm.Load(ctx, wasmhost.PluginConfig{
		Name:             sc.Name,
		RootID:           rootID,
		VMID:             sc.VMID,
		Wasm:             wasm,
		VMConfig:         []byte(sc.VMConfig),
		PluginConfig:     []byte(sc.Config),
		PoolSize:         sc.PoolSize,
		MemoryLimitPages: pages,
		CallTimeout:      sc.CallTimeout,
		Logger:           env.log.With("filter", sc.Name),
		HTTPCall:         env.httpCall,
	})
	if err != nil {
		return nil, err
	}
	s := newWasmStage(sc.Name, p, sc.BufferBody)
	s.names = env.names
	s.failOpen = sc.Fail == conf.FailOpen // trailer callbacks apply it themselves
	return s, nil
}

// close releases the runtime's upstream pools.
func (rt *graph) close() {
	for _, al := range rt.logs {
		al.close()
	}
	for _, f := range rt.stages {
		if c, ok := f.(stageCloser); ok {
			_ = c.Close(context.Background())
		}
	}
	for _, u := range rt.upstreams {
		u.Close()
	}
}

// countersOf returns the counters of old's endpoint at addr, so that a
// reload counts on where the running config left off; nil when old is nil
// or has no endpoint there.
func countersOf(old *upstream.Upstream, addr string) *upstream.EndpointCounters {
	if old == nil {
		return nil
	}
	for _, ep := range old.Endpoints() {
		if ep.Address() == addr {
			return old.Counters(ep)
		}
	}
	return nil
}
