package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmgate/wasmgate/gateway/balancer"
)

// HealthCheck configures active health checks. Every endpoint of positive
// weight is checked on its own schedule: the first check at a random point
// of the first interval (spreading the checks of many endpoints), the next
// ones every Interval ± 10%. Endpoints of weight 0 take no traffic and are
// not checked.
type HealthCheck struct {
	// Protocol is "http" (the default: a request, judged by its status) or
	// "tcp" (a connection that opens is healthy).
	Protocol string
	// Method and Path of the HTTP check; defaults GET and /.
	Method, Path string
	// Host is the Host header of the HTTP check; default the endpoint's
	// address.
	Host string
	// Port, when not 0, is checked instead of the endpoint's port.
	Port int
	// Status lists the healthy status ranges, inclusive; default 200, 202
	// and 401.
	Status [][2]int
	// Interval between checks (default 5s) and Timeout of one check
	// (default 3s, at most Interval).
	Interval, Timeout time.Duration
	// Healthy and Unhealthy are the consecutive successes that bring an
	// unhealthy endpoint back (default 2) and the consecutive failures
	// that take a healthy one out (default 3).
	Healthy, Unhealthy int
	// StartUnhealthy starts endpoints unhealthy (pessimistic) until their
	// first check succeeds; by default they start healthy (optimistic), so
	// that a new or reloaded upstream serves at once. Either way an
	// endpoint that has never been checked counts as healthy after one
	// success.
	StartUnhealthy bool
}

// Outlier configures passive outlier detection: an endpoint that fails
// consecutive requests is ejected (taken out of balancing) for a while.
type Outlier struct {
	// Consecutive5xx ejects after this many 5xx answers or local failures
	// (connect failure, reset, timeout, bad response) in a row; default 5.
	Consecutive5xx int
	// ConsecutiveConnectFailures ejects after this many connect failures
	// in a row; default 3.
	ConsecutiveConnectFailures int
	// BaseEjectionTime is the first ejection's length (default 30s); each
	// ejection of the same endpoint lasts one more BaseEjectionTime, up to
	// MaxEjectionTime (default 300s). An endpoint not ejected for
	// MaxEjectionTime starts over.
	BaseEjectionTime, MaxEjectionTime time.Duration
	// MaxEjectionPercent caps the share of endpoints ejected at once
	// (default 10); one endpoint may always be ejected.
	MaxEjectionPercent int
}

// epState is the health of one endpoint: what active checks found, and
// passive outlier detection. The endpoint is healthy (balancer.Endpoint
// SetHealthy) when active checks pass and it is not ejected.
type epState struct {
	ep   *balancer.Endpoint
	idx  int
	pool *connPool

	// Passive counters, on the request path: read on success, written only
	// on failure, so steady success does not bounce the cache line.
	cons5xx, consConn atomic.Int32
	// count is what the tries came to, for the metrics.
	count *EndpointCounters

	mu         sync.Mutex
	activeDown bool // active checks say unhealthy
	checked    bool // at least one active check ran
	succ, fail int  // consecutive active results
	ejected    bool
	ejectedAt  time.Time
	until      time.Time // end of the ejection
	ejections  int       // consecutive ejections, for the growing time
	lastEject  time.Time // end of the last ejection
	timer      *time.Timer
	lastCheck  time.Time
	lastChange time.Time
	lastErr    string
	warmGen    int // bumped to stop a slow-start ramp
}

func newEPState(ep *balancer.Endpoint, idx int, pool *connPool, count *EndpointCounters) *epState {
	s := &epState{ep: ep, idx: idx, pool: pool, count: count}
	pool.st = s
	return s
}

// EndpointHealth is a snapshot of one endpoint's health, for the admin and
// metrics endpoints.
type EndpointHealth struct {
	Address string
	Weight  int
	// Healthy: the endpoint takes traffic as far as health goes (active
	// checks pass and it is not ejected). Weight 0 endpoints take none
	// whatever their health.
	Healthy bool
	// Checked: active checks ran at least once; ActiveHealthy is their
	// verdict (true without active checks).
	Checked, ActiveHealthy bool
	// ConsecutiveSuccesses and ConsecutiveFailures of the active checks.
	ConsecutiveSuccesses, ConsecutiveFailures int
	LastCheck                                 time.Time
	LastError                                 string // of the last failed check, "" after a success
	// Ejected by outlier detection until EjectedUntil; Ejections counts
	// the consecutive ejections that set its length.
	Ejected      bool
	EjectedUntil time.Time
	Ejections    int
	// Consecutive5xx and ConsecutiveConnectFailures are the passive
	// counters.
	Consecutive5xx, ConsecutiveConnectFailures int
	// LastChange is when Healthy last changed.
	LastChange time.Time
	InFlight   int64
	// Warmth is the slow-start factor, 1 when fully warm.
	Warmth float64
}

// Health returns the health of every endpoint, in configuration order.
func (u *Upstream) Health() []EndpointHealth {
	out := make([]EndpointHealth, 0, len(u.states))
	for _, s := range u.states {
		s.mu.Lock()
		out = append(out, EndpointHealth{
			Address:                    s.ep.Address(),
			Weight:                     s.ep.Weight(),
			Healthy:                    s.ep.Healthy(),
			Checked:                    s.checked,
			ActiveHealthy:              !s.activeDown,
			ConsecutiveSuccesses:       s.succ,
			ConsecutiveFailures:        s.fail,
			LastCheck:                  s.lastCheck,
			LastError:                  s.lastErr,
			Ejected:                    s.ejected,
			EjectedUntil:               s.until,
			Ejections:                  s.ejections,
			Consecutive5xx:             int(s.cons5xx.Load()),
			ConsecutiveConnectFailures: int(s.consConn.Load()),
			LastChange:                 s.lastChange,
			InFlight:                   s.ep.InFlight(),
			Warmth:                     s.ep.Warmth(),
		})
		s.mu.Unlock()
	}
	return out
}

// checkTraffic fills in the defaults of the health, outlier and affinity
// configuration and checks it.
func (cfg *Config) checkTraffic() error {
	if hc := cfg.HealthCheck; hc != nil {
		c := *hc
		if c.Protocol == "" {
			c.Protocol = "http"
		}
		if c.Protocol != "http" && c.Protocol != "tcp" {
			return fmt.Errorf("health check protocol %q: want http or tcp", c.Protocol)
		}
		if c.Method == "" {
			c.Method = http.MethodGet
		}
		if c.Path == "" {
			c.Path = "/"
		}
		if len(c.Status) == 0 {
			c.Status = [][2]int{{200, 200}, {202, 202}, {401, 401}}
		}
		if c.Interval <= 0 {
			c.Interval = 5 * time.Second
		}
		if c.Timeout <= 0 {
			c.Timeout = min(3*time.Second, c.Interval)
		}
		if c.Timeout > c.Interval {
			return fmt.Errorf("health check timeout %v exceeds the interval %v", c.Timeout, c.Interval)
		}
		if c.Healthy <= 0 {
			c.Healthy = 2
		}
		if c.Unhealthy <= 0 {
			c.Unhealthy = 3
		}
		cfg.HealthCheck = &c
	}
	if o := cfg.Outlier; o != nil {
		c := *o
		if c.Consecutive5xx <= 0 {
			c.Consecutive5xx = 5
		}
		if c.ConsecutiveConnectFailures <= 0 {
			c.ConsecutiveConnectFailures = 3
		}
		if c.BaseEjectionTime <= 0 {
			c.BaseEjectionTime = 30 * time.Second
		}
		if c.MaxEjectionTime <= 0 {
			c.MaxEjectionTime = 300 * time.Second
		}
		c.MaxEjectionTime = max(c.MaxEjectionTime, c.BaseEjectionTime)
		if c.MaxEjectionPercent <= 0 {
			c.MaxEjectionPercent = 10
		}
		cfg.Outlier = &c
	}
	return nil
}

// observe feeds one try's result to the endpoint's counters and to outlier
// detection. On the request path: a success adds to one counter and only
// reads the outlier counters.
func (u *Upstream) observe(s *epState, kind failKind, status int) {
	s.count.record(kind, status)
	o := u.cfg.Outlier
	if o == nil {
		return
	}
	switch kind {
	case failNone:
		if status < 500 {
			if s.cons5xx.Load() != 0 {
				s.cons5xx.Store(0)
			}
			if s.consConn.Load() != 0 {
				s.consConn.Store(0)
			}
			return
		}
		if s.consConn.Load() != 0 {
			s.consConn.Store(0)
		}
		if s.cons5xx.Add(1) >= int32(o.Consecutive5xx) {
			u.eject(s, "consecutive 5xx")
		}
	case failConnect:
		n5 := s.cons5xx.Add(1)
		if s.consConn.Add(1) >= int32(o.ConsecutiveConnectFailures) {
			u.eject(s, "consecutive connect failures")
		} else if n5 >= int32(o.Consecutive5xx) {
			u.eject(s, "consecutive 5xx")
		}
	case failReset, failTimeout, failProtocol, failRefused:
		if s.cons5xx.Add(1) >= int32(o.Consecutive5xx) {
			u.eject(s, "consecutive 5xx")
		}
	}
}

// eject takes s out of balancing for its ejection time, unless that would
// eject more than the maximum share of endpoints.
func (u *Upstream) eject(s *epState, why string) {
	o := u.cfg.Outlier
	u.ejectMu.Lock()
	defer u.ejectMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	n5, nc := s.cons5xx.Load(), s.consConn.Load()
	s.cons5xx.Store(0)
	s.consConn.Store(0)
	if s.ejected {
		return
	}
	select {
	case <-u.stop:
		return
	default:
	}
	if u.ejected > 0 && (u.ejected+1)*100 > o.MaxEjectionPercent*u.eligible {
		u.log.Warn("outlier not ejected: too many endpoints ejected", "endpoint", s.ep.Address(),
			"reason", why, "ejected", u.ejected, "max_ejection_percent", o.MaxEjectionPercent)
		return
	}
	now := time.Now()
	if !s.lastEject.IsZero() && now.Sub(s.lastEject) > o.MaxEjectionTime {
		s.ejections = 0
	}
	s.ejections++
	d := min(o.BaseEjectionTime*time.Duration(s.ejections), o.MaxEjectionTime)
	s.ejected, s.ejectedAt, s.until = true, now, now.Add(d)
	u.ejected++
	u.log.Warn("endpoint ejected", "endpoint", s.ep.Address(), "reason", why,
		"consecutive_5xx", n5, "consecutive_connect_failures", nc, "for", d, "ejections", s.ejections)
	u.applyLocked(s, now)
	s.timer = time.AfterFunc(d, func() { u.uneject(s) })
}

// uneject ends s's ejection.
func (u *Upstream) uneject(s *epState) {
	u.ejectMu.Lock()
	defer u.ejectMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ejected {
		return
	}
	now := time.Now()
	s.ejected, s.lastEject, s.timer = false, now, nil
	u.ejected--
	u.log.Info("endpoint ejection ended", "endpoint", s.ep.Address(), "after", now.Sub(s.ejectedAt).Round(time.Millisecond))
	u.applyLocked(s, now)
}

// applyLocked sets the endpoint's health from its state and logs a change;
// s.mu is held. A recovered endpoint starts its slow start.
func (u *Upstream) applyLocked(s *epState, now time.Time) {
	healthy := !s.activeDown && !s.ejected
	if healthy == s.ep.Healthy() {
		return
	}
	s.ep.SetHealthy(healthy)
	s.lastChange = now
	u.log.Info("endpoint health changed", "endpoint", s.ep.Address(), "healthy", healthy,
		"active_healthy", !s.activeDown, "ejected", s.ejected)
	s.warmGen++
	if !healthy {
		s.ep.SetWarmth(1)
		return
	}
	if u.cfg.SlowStart > 0 {
		select {
		case <-u.stop:
			return
		default:
		}
		s.ep.SetWarmth(minWarmth)
		u.wg.Add(1)
		go u.ramp(s, s.warmGen, now)
	}
}

// minWarmth is the share of its traffic a recovered endpoint starts with.
const minWarmth = 0.1

// ramp raises s's warmth linearly from minWarmth to 1 over SlowStart.
func (u *Upstream) ramp(s *epState, gen int, start time.Time) {
	defer u.wg.Done()
	window := u.cfg.SlowStart
	t := time.NewTicker(max(window/20, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			if s.warmGen != gen {
				s.mu.Unlock()
				return
			}
			f := minWarmth + (1-minWarmth)*float64(now.Sub(start))/float64(window)
			s.ep.SetWarmth(f)
			s.mu.Unlock()
			if f >= 1 {
				return
			}
		}
	}
}

// startHealthChecks starts one checker per endpoint of positive weight.
func (u *Upstream) startHealthChecks() {
	hc := u.cfg.HealthCheck
	if hc == nil {
		return
	}
	for _, s := range u.states {
		if s.ep.Weight() == 0 {
			continue
		}
		if hc.StartUnhealthy {
			s.mu.Lock()
			s.activeDown = true
			u.applyLocked(s, time.Now())
			s.mu.Unlock()
		}
		u.wg.Add(1)
		go u.checkLoop(s)
	}
}

// stopHealth stops the checkers, ramps and ejection timers; u.stop is
// closed.
func (u *Upstream) stopHealth() {
	u.wg.Wait()
	for _, s := range u.states {
		s.mu.Lock()
		if s.timer != nil {
			s.timer.Stop()
		}
		s.mu.Unlock()
	}
}

// checkLoop checks one endpoint until the upstream closes.
func (u *Upstream) checkLoop(s *epState) {
	defer u.wg.Done()
	hc := u.cfg.HealthCheck
	first := hc.Interval
	if hc.StartUnhealthy {
		// Nothing is served until the first check: do it soon.
		first = min(first, 100*time.Millisecond)
	}
	t := time.NewTimer(time.Duration(rand.Int64N(int64(first)) + 1))
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), hc.Timeout)
		// Stop a check in progress when the upstream closes.
		go func() {
			select {
			case <-u.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := u.check(ctx, s)
		cancel()
		u.record(s, err)
		jitter := time.Duration(rand.Int64N(int64(hc.Interval)/5+1)) - hc.Interval/10
		t.Reset(hc.Interval + jitter)
	}
}

// record applies one active check result.
func (u *Upstream) record(s *epState, err error) {
	hc := u.cfg.HealthCheck
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastCheck = now
	if err == nil {
		s.lastErr = ""
		s.fail = 0
		s.succ++
		if s.activeDown && (s.succ >= hc.Healthy || !s.checked) {
			s.activeDown = false
			u.log.Info("health check passed", "endpoint", s.ep.Address(), "successes", s.succ)
		}
	} else {
		s.lastErr = err.Error()
		s.succ = 0
		s.fail++
		if !s.activeDown && s.fail >= hc.Unhealthy {
			s.activeDown = true
			u.log.Warn("health check failed", "endpoint", s.ep.Address(), "failures", s.fail, "error", s.lastErr)
		}
	}
	s.checked = true
	u.applyLocked(s, now)
}

// errHealthStatus is a check answered with an unhealthy status.
type errHealthStatus int

func (e errHealthStatus) Error() string { return "unhealthy status " + strconv.Itoa(int(e)) }

// check runs one health check on s.
func (u *Upstream) check(ctx context.Context, s *epState) error {
	hc := u.cfg.HealthCheck
	addr := s.ep.Address()
	if hc.Port != 0 {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return err
		}
		addr = net.JoinHostPort(host, strconv.Itoa(hc.Port))
	}
	host := hc.Host
	if host == "" {
		host = addr
	}
	if hc.Protocol == "http" && u.h2 != nil {
		req, err := http.NewRequestWithContext(ctx, hc.Method, u.h2.scheme+"://"+addr+hc.Path, nil)
		if err != nil {
			return err
		}
		req.Host = host
		req.Header.Set("User-Agent", "wasmgate-health-check")
		resp, err := u.h2.tr.RoundTrip(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		return u.judge(resp.StatusCode)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if hc.Protocol == "tcp" {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if s.pool.tls != nil {
		tc := tls.Client(nc, s.pool.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		nc = tc
	}
	bw := bufio.NewWriter(nc)
	fmt.Fprintf(bw, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: wasmgate-health-check\r\nConnection: close\r\n\r\n", hc.Method, hc.Path, host)
	if err := bw.Flush(); err != nil {
		return err
	}
	req, _ := http.NewRequest(hc.Method, "/", nil)
	resp, err := http.ReadResponse(bufio.NewReader(nc), req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("timeout: %w", ctx.Err())
		}
		return err
	}
	_ = resp.Body.Close()
	return u.judge(resp.StatusCode)
}

// judge checks a health check status against the healthy ranges.
func (u *Upstream) judge(status int) error {
	for _, r := range u.cfg.HealthCheck.Status {
		if status >= r[0] && status <= r[1] {
			return nil
		}
	}
	return errHealthStatus(status)
}
