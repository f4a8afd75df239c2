package wasmhost

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmgate/wasmgate/wasmhost/internal/metrics"
	"github.com/wasmgate/wasmgate/wasmhost/internal/shared"
)

// HostConfig configures a Host. The zero value is usable.
type HostConfig struct {
	// CompilationCacheDir, when set, keeps compiled modules on disk there
	// across restarts (wazero.NewCompilationCacheWithDir). Empty: in memory.
	CompilationCacheDir string
	// Logger is the default logger of plugins (slog.Default() if nil).
	Logger *slog.Logger
	// Now is the wall clock for proxy_get_current_time_nanoseconds
	// (time.Now if nil). WASI clocks are always the real ones.
	Now func() time.Time
}

// Host holds what every plugin shares. It is safe for concurrent use.
type Host struct {
	cfg     HostConfig
	cache   wazero.CompilationCache
	store   *shared.Store
	metrics metrics.Registry

	mu      sync.Mutex
	plugins map[*Plugin]struct{}
	closed  bool
}

// NewHost returns a Host. Close it after the plugins are no longer used.
func NewHost(cfg HostConfig) (*Host, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Host{cfg: cfg, store: shared.New(), plugins: make(map[*Plugin]struct{})}
	if cfg.CompilationCacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CompilationCacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasmhost: compilation cache %q: %w", cfg.CompilationCacheDir, err)
		}
		h.cache = c
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	return h, nil
}

// CompilationCache returns the cache the host compiles modules with, for
// other wazero runtimes of the process to share (the gateway's policy
// stages), so that a module loaded again is not compiled again. The host
// owns it: it is closed by Close, after which it must not be used.
func (h *Host) CompilationCache() wazero.CompilationCache { return h.cache }

// Close closes every plugin still loaded, then the compilation cache.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	ps := make([]*Plugin, 0, len(h.plugins))
	for p := range h.plugins {
		ps = append(ps, p)
	}
	h.mu.Unlock()
	var first error
	for _, p := range ps {
		if err := p.Close(ctx); err != nil && first == nil {
			first = err
		}
	}
	if err := h.cache.Close(ctx); err != nil && first == nil {
		first = err
	}
	return first
}

// MetricType is the type of a plugin-defined metric.
type MetricType uint8

// Metric types, numbered as in the ABI.
const (
	Counter   MetricType = 0
	Gauge     MetricType = 1
	Histogram MetricType = 2
)

// Bucket is one cumulative histogram bucket: Count samples were <= UpperBound.
type Bucket struct {
	UpperBound float64 // +Inf for the last
	Count      uint64
}

// Metric is a snapshot of a metric plugins defined with proxy_define_metric.
// Names are global to the Host, as plugins chose them.
type Metric struct {
	Name string
	Type MetricType
	// Value of a counter or gauge (a counter never decreases).
	Value int64
	// Count, Sum and Buckets of a histogram.
	Count   uint64
	Sum     uint64
	Buckets []Bucket
}

// Metrics returns a snapshot of every metric plugins defined, in definition
// order, e.g. for a Prometheus collector.
func (h *Host) Metrics() iter.Seq[Metric] {
	return func(yield func(Metric) bool) {
		for _, m := range h.metrics.All() {
			out := Metric{Name: m.Name, Type: MetricType(m.Kind)}
			if m.Kind == metrics.Histogram {
				var b [metrics.NumBounds + 1]uint64
				out.Count, out.Sum, b = m.Histogram()
				out.Buckets = make([]Bucket, len(b))
				var cum uint64
				for i, n := range b {
					cum += n
					ub := math.Inf(1)
					if i < metrics.NumBounds {
						ub = float64(metrics.Bound(i))
					}
					out.Buckets[i] = Bucket{UpperBound: ub, Count: cum}
				}
			} else {
				out.Value = m.Value()
			}
			if !yield(out) {
				return
			}
		}
	}
}
