package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/upstream"
)

// adminServer is the admin block's listener: Prometheus metrics on
// /metrics and readiness on /ready, served by net/http (it is not on the
// request path). A reload that keeps its address keeps the server and
// swaps its allow list; one that changes the address binds the new one
// before the old closes.
type adminServer struct {
	address string // as configured, to tell whether a reload moves it
	ln      net.Listener
	srv     *http.Server
	allow   atomic.Pointer[[]netip.Prefix]
	gw      *Gateway
	done    chan struct{}
}

// metricsView is what a scrape reads of the running config: published
// whole by every successful apply, so a scrape never waits for a reload
// (which holds the gateway's lock while old listeners drain).
type metricsView struct {
	listeners []*listenerStats // by name
	upstreams []*upstream.Upstream
}

func newAdminServer(ac *conf.Admin, g *Gateway) (*adminServer, error) {
	ln, err := net.Listen("tcp", ac.Address)
	if err != nil {
		return nil, err
	}
	a := &adminServer{address: ac.Address, ln: ln, gw: g, done: make(chan struct{})}
	a.setAllow(ac.Allow)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", a.metrics)
	mux.HandleFunc("GET /ready", a.ready)
	a.srv = &http.Server{
		Handler:           a.guard(mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	return a, nil
}

func (a *adminServer) setAllow(p []netip.Prefix) { a.allow.Store(&p) }

// serve runs the server until close.
func (a *adminServer) serve() {
	defer close(a.done)
	if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.gw.log.Error("admin listener stopped", "address", a.address, "err", err)
	}
}

// close stops the server, letting scrapes in progress finish until ctx
// is done.
func (a *adminServer) close(ctx context.Context) {
	if err := a.srv.Shutdown(ctx); err != nil {
		_ = a.srv.Close()
	}
	<-a.done
}

// guard answers 403 to clients outside the allow list.
func (a *adminServer) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allow := *a.allow.Load()
		src, err := netip.ParseAddrPort(r.RemoteAddr)
		if len(allow) > 0 && (err != nil || !allowedBy(allow, src.Addr())) {
			http.Error(w, "source address not allowed", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *adminServer) metrics(w http.ResponseWriter, _ *http.Request) {
	g := a.gw
	s := metricsSnapshot{reloads: &g.loads}
	if v := g.view.Load(); v != nil {
		s.listeners = v.listeners
		for _, u := range v.upstreams {
			us := upstreamSnapshot{name: u.Name()}
			for _, ep := range u.Endpoints() {
				us.endpoints = append(us.endpoints, endpointSnapshot{
					address: ep.Address(), healthy: ep.Healthy(), inFlight: ep.InFlight(), count: u.Counters(ep).Load(),
				})
			}
			s.upstreams = append(s.upstreams, us)
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if err := writeMetrics(w, &s); err != nil {
		g.log.Debug("admin: metrics not written", "err", err)
	}
}

// ready answers 200 while the gateway serves and 503 once it shuts down,
// for load balancers and orchestrators in front of wasmgate.
func (a *adminServer) ready(w http.ResponseWriter, _ *http.Request) {
	if !a.gw.up.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}
