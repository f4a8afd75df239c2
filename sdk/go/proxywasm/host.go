package proxywasm

import (
	"strconv"
	"time"

	"github.com/wasmgate/wasmgate/sdk/go/internal/abi"
)

// Log writes msg to the host's log at level.
func Log(level LogLevel, msg string) { host().Log(uint32(level), msg) }

// LogTrace logs msg at trace level.
func LogTrace(msg string) { Log(LevelTrace, msg) }

// LogDebug logs msg at debug level.
func LogDebug(msg string) { Log(LevelDebug, msg) }

// LogInfo logs msg at info level.
func LogInfo(msg string) { Log(LevelInfo, msg) }

// LogWarn logs msg at warn level.
func LogWarn(msg string) { Log(LevelWarn, msg) }

// LogError logs msg at error level.
func LogError(msg string) { Log(LevelError, msg) }

// LogCritical logs msg at critical level.
func LogCritical(msg string) { Log(LevelCritical, msg) }

// Property returns a host property of the running callback's context, e.g.
// Property("plugin_name") in a root context. The result is owned by the
// caller. Use Stream.Property for a stream's properties from anywhere.
func Property(path ...string) ([]byte, error) { return getProperty(path) }

// SetProperty sets a host property of the running callback's context.
func SetProperty(path []string, value []byte) error { return setProperty(path, value) }

func getProperty(path []string) ([]byte, error) {
	b, st := host().GetProperty(encodePath(path))
	return b, statusErr(st)
}

func setProperty(path []string, value []byte) error {
	return statusErr(host().SetProperty(encodePath(path), value))
}

// SetTickPeriod makes the host call the running root context's OnTick every
// d (millisecond resolution); 0 stops the ticks.
func SetTickPeriod(d time.Duration) error {
	return statusErr(host().SetTickPeriod(uint32(d / time.Millisecond)))
}

// Done tells the host that a root context whose OnDone returned false has
// finished.
func Done() error { return statusErr(host().Done()) }

// SharedData returns the value stored under key in the VM-wide shared data
// and its compare-and-swap version. ErrNotFound means the key is absent.
func SharedData(key string) (value []byte, cas uint32, err error) {
	b, c, st := host().GetSharedData(key)
	return b, c, statusErr(st)
}

// SetSharedData stores value under key. A non-zero cas makes the write
// conditional on the version returned by SharedData; a concurrent change
// yields ErrCASMismatch. cas 0 writes unconditionally.
func SetSharedData(key string, value []byte, cas uint32) error {
	return statusErr(host().SetSharedData(key, value, cas))
}

// Queue is a shared queue id. Data enqueued on it is delivered to the root
// context that registered it through OnQueueReady.
type Queue uint32

// RegisterQueue creates (or finds) the queue name owned by the running root
// context.
func RegisterQueue(name string) (Queue, error) {
	id, st := host().RegisterQueue(name)
	return Queue(id), statusErr(st)
}

// ResolveQueue finds the queue name registered by the VM vmID.
func ResolveQueue(vmID, name string) (Queue, error) {
	id, st := host().ResolveQueue(vmID, name)
	return Queue(id), statusErr(st)
}

// Enqueue appends data to the queue.
func (q Queue) Enqueue(data []byte) error {
	return statusErr(host().Enqueue(uint32(q), data))
}

// Dequeue removes and returns the oldest item; ErrEmpty when there is none.
func (q Queue) Dequeue() ([]byte, error) {
	b, st := host().Dequeue(uint32(q))
	return b, statusErr(st)
}

// Counter is a monotonically increasing metric.
type Counter struct{ id uint32 }

// Gauge is a metric that goes up and down.
type Gauge struct{ id uint32 }

// Histogram is a metric that records a distribution of values.
type Histogram struct{ id uint32 }

func defineMetric(t abi.MetricType, name string) (uint32, error) {
	id, st := host().DefineMetric(t, name)
	return id, statusErr(st)
}

// DefineCounter defines (or finds) the counter name. Define metrics once, in
// OnVMStart or OnConfigure, not per request.
func DefineCounter(name string) (Counter, error) {
	id, err := defineMetric(abi.MetricCounter, name)
	return Counter{id}, err
}

// DefineGauge defines (or finds) the gauge name.
func DefineGauge(name string) (Gauge, error) {
	id, err := defineMetric(abi.MetricGauge, name)
	return Gauge{id}, err
}

// DefineHistogram defines (or finds) the histogram name.
func DefineHistogram(name string) (Histogram, error) {
	id, err := defineMetric(abi.MetricHistogram, name)
	return Histogram{id}, err
}

// Increment adds delta to the counter.
func (c Counter) Increment(delta uint64) error {
	return statusErr(host().IncrementMetric(c.id, int64(delta)))
}

// Value returns the counter's value.
func (c Counter) Value() (uint64, error) { return metricValue(c.id) }

// Set sets the gauge to v.
func (g Gauge) Set(v uint64) error { return statusErr(host().RecordMetric(g.id, v)) }

// Add adds delta (possibly negative) to the gauge.
func (g Gauge) Add(delta int64) error { return statusErr(host().IncrementMetric(g.id, delta)) }

// Value returns the gauge's value.
func (g Gauge) Value() (uint64, error) { return metricValue(g.id) }

// Record records one observation.
func (h Histogram) Record(v uint64) error { return statusErr(host().RecordMetric(h.id, v)) }

func metricValue(id uint32) (uint64, error) {
	v, st := host().GetMetric(id)
	return v, statusErr(st)
}

// CallForeignFunction calls a host-specific extension function.
func CallForeignFunction(name string, param []byte) ([]byte, error) {
	b, st := host().CallForeignFunction(name, param)
	return b, statusErr(st)
}

// DispatchHTTPCall sends an HTTP request to the host-defined upstream
// (cluster) and returns its token. headers must contain :method, :path and
// :authority. onResponse runs later, in a separate callback, on behalf of
// the calling context; it is dropped if that context is gone by then. A
// stream that waits for the answer returns Pause and resumes from
// onResponse with ContinueRequest or SendLocalResponse.
func DispatchHTTPCall(upstream string, headers [][2]string, body []byte, timeout time.Duration,
	onResponse func(HTTPCallResponse)) (uint32, error) {
	caller := currentContext()
	token, st := host().HTTPCall(upstream, encodePairs(headers), body, nil, uint32(timeout/time.Millisecond))
	if err := statusErr(st); err != nil {
		return 0, err
	}
	if v := active; v != nil && onResponse != nil {
		v.callouts[calloutKey{root: v.rootOf(caller), token: token}] = callout{caller: caller, fn: onResponse}
	}
	return token, nil
}

// HTTPCallResponse is the answer to DispatchHTTPCall, readable only during
// the callback. A response with no headers means the call failed (timeout,
// reset, unknown upstream).
type HTTPCallResponse struct {
	NumHeaders  int // number of response headers, 0 on failure
	BodySize    int // size of the response body
	NumTrailers int // number of response trailers
	ctx         uint32
}

// Headers returns the response headers (with :status).
func (r HTTPCallResponse) Headers() HeaderMap {
	return HeaderMap{r.ctx, abi.MapHTTPCallResponseHead}
}

// Trailers returns the response trailers.
func (r HTTPCallResponse) Trailers() HeaderMap {
	return HeaderMap{r.ctx, abi.MapHTTPCallResponseTrlr}
}

// Body returns the response body.
func (r HTTPCallResponse) Body() Body { return Body{r.ctx, abi.BufferHTTPCallResponse} }

// Status returns the response status code, or 0 when the call failed.
func (r HTTPCallResponse) Status() int {
	if r.NumHeaders == 0 {
		return 0
	}
	s, ok := r.Headers().Get(":status")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
