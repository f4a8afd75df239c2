package gateway

import (
	"bufio"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wasmgate/wasmgate/gateway/upstream"
)

// Metrics. Each listener name has a listenerStats that lives as long as the
// name is in the config, so its counters survive reloads, including one
// that rebuilds the listener's servers. The counters are split in shards:
// one per plain path loop, which only that loop writes, and one that the
// general path's goroutines share. So the plain path's per request cost is
// a few uncontended atomic adds on a cache line no other CPU writes, and
// nothing is allocated. A scrape sums the shards.

// durationBucketsMicros are the upper bounds of the request duration
// histogram's buckets, in µs; a last, implicit bucket is +Inf.
func durationBucketsMicros() [numDurationBuckets - 1]uint64 {
	return [...]uint64{1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000}
}

const numDurationBuckets = 13 // the bounds and +Inf

// statusClientClosed is what the metrics and the access log record for a
// request whose client left before its response (nginx's 499).
const statusClientClosed = upstream.StatusClientClosed

// statShard is one writer's share of a listener's counters.
type statShard struct {
	accepted atomic.Uint64 // client connections accepted
	closed   atomic.Uint64 // client connections closed
	bytesIn  atomic.Uint64 // bytes read from clients
	bytesOut atomic.Uint64 // bytes written to clients
	// classes counts responses by status class (upstream.StatusClass).
	classes [6]atomic.Uint64
	// notFound, clientClosed and badGateway count 404, 499 and 502
	// responses, which operators watch on their own.
	notFound, clientClosed, badGateway atomic.Uint64
	// buckets counts request durations by bucket (not cumulative).
	buckets     [numDurationBuckets]atomic.Uint64
	durationSum atomic.Uint64 // µs
	// Keeps the next shard's counters off this one's last cache line.
	_ [64]byte
}

// response records one response: its status and the time from the request
// head to the response head.
func (s *statShard) response(status int, d time.Duration) {
	s.classes[upstream.StatusClass(status)].Add(1)
	switch status {
	case 404:
		s.notFound.Add(1)
	case statusClientClosed:
		s.clientClosed.Add(1)
	case 502:
		s.badGateway.Add(1)
	}
	us := uint64(max(d.Microseconds(), 0))
	bounds := durationBucketsMicros()
	i := 0
	for i < len(bounds) && us > bounds[i] {
		i++
	}
	s.buckets[i].Add(1)
	s.durationSum.Add(us)
}

// listenerStats are the counters of one listener name.
type listenerStats struct {
	name   string
	shards []statShard // one per plain path loop, then the shared one
}

func newListenerStats(name string) *listenerStats {
	return &listenerStats{name: name, shards: make([]statShard, runtime.GOMAXPROCS(0)+1)}
}

// loopShard returns the shard of plain path loop i.
func (ls *listenerStats) loopShard(i int) *statShard {
	return &ls.shards[min(i, len(ls.shards)-2)]
}

// shared returns the shard that the general path's goroutines share.
func (ls *listenerStats) shared() *statShard { return &ls.shards[len(ls.shards)-1] }

// statTotals is the sum of a listener's shards.
type statTotals struct {
	accepted, closed, bytesIn, bytesOut uint64
	classes                             [6]uint64
	notFound, clientClosed, badGateway  uint64
	buckets                             [numDurationBuckets]uint64
	durationSum                         uint64
}

func (ls *listenerStats) totals() statTotals {
	var t statTotals
	// Every shard's closed count before any accepted count: a connection
	// is accepted before it is closed (maybe in another shard, after a
	// hand-off), so accepted - closed cannot go negative.
	for i := range ls.shards {
		t.closed += ls.shards[i].closed.Load()
	}
	for i := range ls.shards {
		s := &ls.shards[i]
		t.accepted += s.accepted.Load()
		t.bytesIn += s.bytesIn.Load()
		t.bytesOut += s.bytesOut.Load()
		for c := range s.classes {
			t.classes[c] += s.classes[c].Load()
		}
		t.notFound += s.notFound.Load()
		t.clientClosed += s.clientClosed.Load()
		t.badGateway += s.badGateway.Load()
		for b := range s.buckets {
			t.buckets[b] += s.buckets[b].Load()
		}
		t.durationSum += s.durationSum.Load()
	}
	return t
}

// reloadStats counts configuration changes.
type reloadStats struct {
	succeeded, failed atomic.Uint64
	lastSuccess       atomic.Int64 // Unix time of the last good load, in ms
	lastFailed        atomic.Bool  // the last attempt failed
}

func (r *reloadStats) record(ok bool) {
	if ok {
		r.succeeded.Add(1)
		r.lastSuccess.Store(time.Now().UnixMilli())
	} else {
		r.failed.Add(1)
	}
	r.lastFailed.Store(!ok)
}

// upstreamSnapshot is what a scrape reports of one upstream.
type upstreamSnapshot struct {
	name      string
	endpoints []endpointSnapshot
}

type endpointSnapshot struct {
	address  string
	healthy  bool
	inFlight int64
	count    upstream.EndpointCount
}

// metricsSnapshot is everything one scrape reports; the endpoints' health
// is read once, so the families that show it agree.
type metricsSnapshot struct {
	listeners []*listenerStats
	upstreams []upstreamSnapshot
	reloads   *reloadStats
}

// writeMetrics writes s in the Prometheus text exposition format (0.0.4).
func writeMetrics(w io.Writer, s *metricsSnapshot) error {
	bw := bufio.NewWriter(w)
	m := promWriter{w: bw}
	totals := make([]statTotals, len(s.listeners))
	for i, ls := range s.listeners {
		totals[i] = ls.totals()
	}
	perListener := func(name, typ, help string, value func(t *statTotals) uint64) {
		m.family(name, typ, help)
		for i, ls := range s.listeners {
			m.sample(name, value(&totals[i]), "listener", ls.name)
		}
	}
	perListener("wasmgate_connections_accepted_total", "counter", "Client connections accepted.",
		func(t *statTotals) uint64 { return t.accepted })
	perListener("wasmgate_connections_open", "gauge", "Client connections open now.",
		func(t *statTotals) uint64 { return t.accepted - t.closed })
	perListener("wasmgate_received_bytes_total", "counter", "Bytes read from clients (TCP payload; for HTTP/3, QUIC packets of closed connections).",
		func(t *statTotals) uint64 { return t.bytesIn })
	perListener("wasmgate_sent_bytes_total", "counter", "Bytes written to clients (TCP payload; for HTTP/3, QUIC packets of closed connections).",
		func(t *statTotals) uint64 { return t.bytesOut })

	m.family("wasmgate_responses_total", "counter", "Responses sent, by status class.")
	classNames := [6]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}
	for i, ls := range s.listeners {
		for c, class := range classNames {
			m.sample("wasmgate_responses_total", totals[i].classes[c], "listener", ls.name, "class", class)
		}
	}
	m.family("wasmgate_responses_by_code_total", "counter", "Responses with status 404, 499 (client closed the request) and 502.")
	for i, ls := range s.listeners {
		t := &totals[i]
		m.sample("wasmgate_responses_by_code_total", t.notFound, "listener", ls.name, "code", "404")
		m.sample("wasmgate_responses_by_code_total", t.clientClosed, "listener", ls.name, "code", "499")
		m.sample("wasmgate_responses_by_code_total", t.badGateway, "listener", ls.name, "code", "502")
	}

	const hist = "wasmgate_request_duration_seconds"
	m.family(hist, "histogram", "Time from a request's head to its response's head.")
	bounds := durationBucketsMicros()
	for i, ls := range s.listeners {
		t := &totals[i]
		var cum uint64
		for b := range t.buckets {
			cum += t.buckets[b]
			le := "+Inf"
			if b < len(bounds) {
				le = strconv.FormatFloat(float64(bounds[b])/1e6, 'g', -1, 64)
			}
			m.sample(hist+"_bucket", cum, "listener", ls.name, "le", le)
		}
		m.sampleFloat(hist+"_sum", float64(t.durationSum)/1e6, "listener", ls.name)
		m.sample(hist+"_count", cum, "listener", ls.name)
	}

	m.family("wasmgate_upstream_endpoints", "gauge", "Endpoints of an upstream by health (active checks and outlier ejection).")
	for _, u := range s.upstreams {
		var up uint64
		for _, e := range u.endpoints {
			if e.healthy {
				up++
			}
		}
		m.sample("wasmgate_upstream_endpoints", up, "upstream", u.name, "state", "healthy")
		m.sample("wasmgate_upstream_endpoints", uint64(len(u.endpoints))-up, "upstream", u.name, "state", "unhealthy")
	}
	// eachEndpoint calls f for every endpoint of every upstream, in order.
	eachEndpoint := func(f func(u *upstreamSnapshot, e *endpointSnapshot)) {
		for i := range s.upstreams {
			u := &s.upstreams[i]
			for j := range u.endpoints {
				f(u, &u.endpoints[j])
			}
		}
	}
	m.family("wasmgate_upstream_endpoint_up", "gauge", "1 when the endpoint is healthy, else 0.")
	eachEndpoint(func(u *upstreamSnapshot, e *endpointSnapshot) {
		v := uint64(0)
		if e.healthy {
			v = 1
		}
		m.sample("wasmgate_upstream_endpoint_up", v, "upstream", u.name, "endpoint", e.address)
	})
	m.family("wasmgate_upstream_endpoint_requests_in_flight", "gauge", "Requests the endpoint is serving now.")
	eachEndpoint(func(u *upstreamSnapshot, e *endpointSnapshot) {
		m.sample("wasmgate_upstream_endpoint_requests_in_flight", uint64(max(e.inFlight, 0)), "upstream", u.name, "endpoint", e.address)
	})
	m.family("wasmgate_upstream_responses_total", "counter", "Responses endpoints gave to the gateway's tries (retried ones too), by status class.")
	eachEndpoint(func(u *upstreamSnapshot, e *endpointSnapshot) {
		for i, n := range e.count.Responses {
			m.sample("wasmgate_upstream_responses_total", n, "upstream", u.name, "endpoint", e.address, "class", classNames[i])
		}
	})
	m.family("wasmgate_upstream_failures_total", "counter", "Tries that got no response from the endpoint, by reason.")
	eachEndpoint(func(u *upstreamSnapshot, e *endpointSnapshot) {
		c := &e.count
		for _, f := range [...]struct {
			reason string
			n      uint64
		}{{"connect", c.Connect}, {"reset", c.Reset}, {"timeout", c.Timeout}, {"protocol", c.Protocol}, {"refused", c.Refused}, {"overflow", c.Overflow}} {
			m.sample("wasmgate_upstream_failures_total", f.n, "upstream", u.name, "endpoint", e.address, "reason", f.reason)
		}
	})

	r := s.reloads
	m.family("wasmgate_config_loads_total", "counter", "Configurations applied (the first one and every reload), by result.")
	m.sample("wasmgate_config_loads_total", r.succeeded.Load(), "result", "success")
	m.sample("wasmgate_config_loads_total", r.failed.Load(), "result", "failure")
	m.family("wasmgate_config_last_load_successful", "gauge", "1 when the last configuration load succeeded, else 0.")
	last := uint64(1)
	if r.lastFailed.Load() {
		last = 0
	}
	m.sample("wasmgate_config_last_load_successful", last)
	m.family("wasmgate_config_last_load_success_timestamp_seconds", "gauge", "When the running configuration was loaded, in Unix seconds.")
	m.sampleFloat("wasmgate_config_last_load_success_timestamp_seconds", float64(r.lastSuccess.Load())/1e3)
	if m.err != nil {
		return m.err
	}
	return bw.Flush()
}

// promWriter writes text exposition lines, keeping the first error.
type promWriter struct {
	w   *bufio.Writer
	buf []byte
	err error
}

func (m *promWriter) family(name, typ, help string) {
	m.buf = append(m.buf[:0], "# HELP "...)
	m.buf = append(m.buf, name...)
	m.buf = append(m.buf, ' ')
	m.buf = appendEscaped(m.buf, help, false)
	m.buf = append(m.buf, "\n# TYPE "...)
	m.buf = append(m.buf, name...)
	m.buf = append(m.buf, ' ')
	m.buf = append(m.buf, typ...)
	m.buf = append(m.buf, '\n')
	m.flush()
}

func (m *promWriter) sample(name string, v uint64, labels ...string) {
	m.labels(name, labels)
	m.buf = strconv.AppendUint(m.buf, v, 10)
	m.buf = append(m.buf, '\n')
	m.flush()
}

func (m *promWriter) sampleFloat(name string, v float64, labels ...string) {
	m.labels(name, labels)
	m.buf = strconv.AppendFloat(m.buf, v, 'g', -1, 64)
	m.buf = append(m.buf, '\n')
	m.flush()
}

// labels starts a sample line: the name and the label pairs.
func (m *promWriter) labels(name string, pairs []string) {
	m.buf = append(m.buf[:0], name...)
	if len(pairs) > 0 {
		m.buf = append(m.buf, '{')
		for i := 0; i+1 < len(pairs); i += 2 {
			if i > 0 {
				m.buf = append(m.buf, ',')
			}
			m.buf = append(m.buf, pairs[i]...)
			m.buf = append(m.buf, `="`...)
			m.buf = appendEscaped(m.buf, pairs[i+1], true)
			m.buf = append(m.buf, '"')
		}
		m.buf = append(m.buf, '}')
	}
	m.buf = append(m.buf, ' ')
}

func (m *promWriter) flush() {
	if m.err == nil {
		_, m.err = m.w.Write(m.buf)
	}
}

// appendEscaped escapes backslashes and line feeds, as HELP texts and label
// values need, and double quotes too when quote is set (label values).
func appendEscaped(b []byte, v string, quote bool) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// countedConn counts a general path client connection's bytes and its
// close in a shard. The accept is counted by whoever accepted it.
type countedConn struct {
	net.Conn
	s      *statShard
	closed atomic.Bool
}

func countConn(c net.Conn, s *statShard) *countedConn { return &countedConn{Conn: c, s: s} }

// Read implements net.Conn.
func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.s.bytesIn.Add(uint64(n))
	return n, err
}

// Write implements net.Conn.
func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.s.bytesOut.Add(uint64(n))
	return n, err
}

// Close implements net.Conn; the first call counts the connection closed.
func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.s.closed.Add(1)
	}
	return c.Conn.Close()
}

// CloseWrite shuts the write side when the wrapped connection can.
func (c *countedConn) CloseWrite() error { return closeWrite(c.Conn) }

// countingListener counts the connections it accepts and wraps them in
// countedConn.
type countingListener struct {
	net.Listener
	s *statShard
}

// Accept implements net.Listener.
func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.accepted.Add(1)
	return countConn(c, l.s), nil
}
