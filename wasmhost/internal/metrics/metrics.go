// Package metrics is the registry behind proxy_define_metric and friends:
// counters, gauges and histograms, identified by name, shared by every
// plugin of a host. Updates are lock-free; definition takes a lock.
package metrics

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
)

// Kind is the metric type, with the ABI's numbering.
type Kind uint32

// Metric kinds.
const (
	Counter   Kind = 0
	Gauge     Kind = 1
	Histogram Kind = 2
)

// Errors; the host maps them to ABI status codes.
var (
	ErrNotFound    = errors.New("metric not found")
	ErrBadArgument = errors.New("bad metric argument")
)

// NumBounds is the number of finite histogram bucket bounds; one implicit
// +Inf bucket follows them.
const NumBounds = 30

// Bound returns the inclusive upper bound of histogram bucket i
// (0 <= i < NumBounds): the 1-2-5 series 1, 2, 5, 10, ... 5e9.
func Bound(i int) uint64 {
	v := uint64(1)
	for range i / 3 {
		v *= 10
	}
	return v * [3]uint64{1, 2, 5}[i%3]
}

// Metric is one registered metric.
type Metric struct {
	Name  string
	Kind  Kind
	value atomic.Int64 // counter (as uint64) or gauge
	count atomic.Uint64
	sum   atomic.Uint64
	bkt   [NumBounds + 1]atomic.Uint64
}

// Value returns a counter's or gauge's value, or a histogram's count.
func (m *Metric) Value() int64 {
	if m.Kind == Histogram {
		return int64(m.count.Load())
	}
	return m.value.Load()
}

// Histogram returns count, sum and per-bucket (non-cumulative) counts.
func (m *Metric) Histogram() (count, sum uint64, buckets [NumBounds + 1]uint64) {
	for i := range m.bkt {
		buckets[i] = m.bkt[i].Load()
	}
	return m.count.Load(), m.sum.Load(), buckets
}

// Registry is safe for concurrent use. The zero value is ready.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]uint32
	list   []*Metric // id = index + 1
}

// Define returns the id of metric name, creating it if needed. Defining an
// existing name with another kind is ErrBadArgument.
func (r *Registry) Define(kind Kind, name string) (uint32, error) {
	if kind > Histogram || name == "" {
		return 0, ErrBadArgument
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.byName[name]; ok {
		if r.list[id-1].Kind != kind {
			return 0, ErrBadArgument
		}
		return id, nil
	}
	if r.byName == nil {
		r.byName = make(map[string]uint32)
	}
	name = strings.Clone(name) // may alias guest memory
	r.list = append(r.list, &Metric{Name: name, Kind: kind})
	id := uint32(len(r.list))
	r.byName[name] = id
	return id, nil
}

func (r *Registry) get(id uint32) (*Metric, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if id == 0 || int(id) > len(r.list) {
		return nil, ErrNotFound
	}
	return r.list[id-1], nil
}

// Increment adds offset to a counter (offset must not be negative) or a gauge.
func (r *Registry) Increment(id uint32, offset int64) error {
	m, err := r.get(id)
	if err != nil {
		return err
	}
	switch m.Kind {
	case Counter:
		if offset < 0 {
			return ErrBadArgument
		}
		m.value.Add(offset)
	case Gauge:
		m.value.Add(offset)
	default:
		return ErrBadArgument
	}
	return nil
}

// Record adds to a counter, sets a gauge, or records a histogram sample.
func (r *Registry) Record(id uint32, v uint64) error {
	m, err := r.get(id)
	if err != nil {
		return err
	}
	switch m.Kind {
	case Counter:
		m.value.Add(int64(v))
	case Gauge:
		m.value.Store(int64(v))
	case Histogram:
		m.count.Add(1)
		m.sum.Add(v)
		i := 0
		for i < NumBounds && v > Bound(i) {
			i++
		}
		m.bkt[i].Add(1)
	}
	return nil
}

// Get returns a counter's or gauge's value; histograms are ErrBadArgument.
func (r *Registry) Get(id uint32) (uint64, error) {
	m, err := r.get(id)
	if err != nil {
		return 0, err
	}
	if m.Kind == Histogram {
		return 0, ErrBadArgument
	}
	return uint64(m.value.Load()), nil
}

// All returns the registered metrics in definition order. The slice is a
// copy; the metrics are live.
func (r *Registry) All() []*Metric {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]*Metric(nil), r.list...)
}
