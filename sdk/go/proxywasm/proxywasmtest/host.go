// Package proxywasmtest is a fake Proxy-Wasm host that runs a filter written
// with package proxywasm natively, under plain go test, without a WebAssembly
// runtime. It emulates header maps, bodies, properties, local responses,
// http_call, shared data, shared queues, metrics, ticks and logs closely
// enough to unit-test a filter's logic; it is not a conformance test of a
// real host.
//
// A typical test:
//
//	h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{PluginConfig: cfg})
//	if !h.Start() {
//		t.Fatal("configuration rejected")
//	}
//	s := h.NewStream()
//	act := s.CallOnRequestHeaders([][2]string{{":path", "/"}, {"x-deny", "1"}}, true)
//	resp, ok := s.LocalResponse()
//
// The SDK keeps its state in package variables (a Wasm instance is one
// process), so only one Host can be active at a time: hosts of parallel
// tests in the same package take turns.
package proxywasmtest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/sdk/go/internal/abi"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
)

// Options configures a fake host.
type Options struct {
	// VMConfig is passed to OnVMStart.
	VMConfig []byte
	// PluginConfig is passed to OnConfigure.
	PluginConfig []byte
	// VMID is this VM's id for ResolveQueue ("" by default).
	VMID string
	// Properties are visible to every context, keyed by dotted path
	// ("plugin_name", "wasmgate.route"). Stream properties take precedence.
	Properties map[string]string
}

// LogEntry is one message logged by the filter.
type LogEntry struct {
	Level   proxywasm.LogLevel
	Message string
}

// Host is the fake host. Its methods must be called from the test's
// goroutine, never from inside a filter callback.
type Host struct {
	tb    testing.TB
	opts  Options
	guest abi.Guest

	root      uint32
	nextID    uint32
	effective uint32
	streams   map[uint32]*Stream
	props     map[string]string

	logs       []LogEntry
	tickPeriod time.Duration
	doneCalled bool

	shared  map[string]sharedValue
	lastCAS uint32

	queues     []*queue
	queueIndex map[string]uint32

	metrics     []*metric
	metricIndex map[string]uint32

	calls     []*HTTPCall
	nextToken uint32
	response  *callResponse // being delivered

	foreign map[string]func([]byte) ([]byte, error)
	scratch []byte
}

var (
	activeMu    sync.Mutex // held by the active Host
	ownerMu     sync.Mutex // guards activeOwner
	activeOwner testing.TB
)

func owner() testing.TB {
	ownerMu.Lock()
	defer ownerMu.Unlock()
	return activeOwner
}

func setOwner(tb testing.TB) {
	ownerMu.Lock()
	activeOwner = tb
	ownerMu.Unlock()
}

// New installs a fake host for the duration of the test and creates the root
// context with newRoot (OnVMStart and OnConfigure run in Start). It
// replaces whatever proxywasm.SetRootContext registered before.
func New(tb testing.TB, newRoot func(id uint32) proxywasm.RootContext, opts Options) *Host {
	tb.Helper()
	if owner() == tb {
		tb.Fatal("proxywasmtest: one Host per test: the SDK state is global")
	}
	activeMu.Lock()
	setOwner(tb)
	h := &Host{
		tb:          tb,
		opts:        opts,
		nextID:      1,
		streams:     make(map[uint32]*Stream),
		props:       make(map[string]string),
		shared:      make(map[string]sharedValue),
		queueIndex:  make(map[string]uint32),
		metricIndex: make(map[string]uint32),
		foreign:     make(map[string]func([]byte) ([]byte, error)),
	}
	for k, v := range opts.Properties {
		h.props[k] = v
	}
	prev := abi.SetHost(fakeABI{h})
	prevGuest := abi.CurrentGuest()
	tb.Cleanup(func() {
		abi.SetHost(prev)
		abi.SetGuest(prevGuest)
		setOwner(nil)
		activeMu.Unlock()
	})
	proxywasm.SetRootContext(newRoot)
	h.guest = abi.CurrentGuest()
	h.root = h.newID()
	h.enter(h.root)
	h.guest.OnContextCreate(h.root, 0)
	return h
}

func (h *Host) newID() uint32 {
	id := h.nextID
	h.nextID++
	return id
}

// enter makes id the effective context, as a host does before a callback.
func (h *Host) enter(id uint32) { h.effective = id }

// declared tells whether the root context declared, through the property
// wasmgate.http_callbacks, that its HTTP contexts act on callback (a name
// of the property's list); without a declaration every callback is.
// Like wasmgate, the fake host skips the callbacks not declared.
func (h *Host) declared(callback string) bool {
	list, ok := h.props["wasmgate.http_callbacks"]
	if !ok {
		return true
	}
	for name := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(name) == callback {
			return true
		}
	}
	return false
}

// RootID returns the id of the root context.
func (h *Host) RootID() uint32 { return h.root }

// Start calls OnVMStart and OnConfigure and reports whether both accepted.
func (h *Host) Start() bool {
	h.enter(h.root)
	if !h.guest.OnVMStart(h.root, len(h.opts.VMConfig)) {
		return false
	}
	h.enter(h.root)
	return h.guest.OnConfigure(h.root, len(h.opts.PluginConfig))
}

// Configure calls OnConfigure again with a new plugin configuration, as a
// host does on reload, and returns its result.
func (h *Host) Configure(pluginConfig []byte) bool {
	h.opts.PluginConfig = pluginConfig
	h.enter(h.root)
	return h.guest.OnConfigure(h.root, len(pluginConfig))
}

// Shutdown calls the root context's OnDone and returns its result; when it is
// true the root context is deleted.
func (h *Host) Shutdown() bool {
	h.enter(h.root)
	ok := h.guest.OnDone(h.root)
	if ok {
		h.enter(h.root)
		h.guest.OnDelete(h.root)
	}
	return ok
}

// DoneCalled reports whether the filter called proxywasm.Done.
func (h *Host) DoneCalled() bool { return h.doneCalled }

// TickPeriod returns the period set with proxywasm.SetTickPeriod.
func (h *Host) TickPeriod() time.Duration { return h.tickPeriod }

// Tick calls OnTick once if a tick period is set, and reports whether it did.
func (h *Host) Tick() bool {
	if h.tickPeriod <= 0 {
		return false
	}
	h.enter(h.root)
	h.guest.OnTick(h.root)
	return true
}

// Logs returns every message logged so far.
func (h *Host) Logs() []LogEntry { return append([]LogEntry(nil), h.logs...) }

// LogMessages returns the messages logged at level.
func (h *Host) LogMessages(level proxywasm.LogLevel) []string {
	var out []string
	for _, e := range h.logs {
		if e.Level == level {
			out = append(out, e.Message)
		}
	}
	return out
}

// SetProperty sets a host-wide property by dotted path.
func (h *Host) SetProperty(path, value string) { h.props[path] = value }

// Property returns a host-wide property by dotted path.
func (h *Host) Property(path string) (string, bool) {
	v, ok := h.props[path]
	return v, ok
}

// SharedData returns the shared value under key and its CAS version.
func (h *Host) SharedData(key string) ([]byte, uint32, bool) {
	v, ok := h.shared[key]
	return clone(v.data), v.cas, ok
}

// SetSharedData stores a shared value, as another VM would.
func (h *Host) SetSharedData(key string, value []byte) {
	h.lastCAS++
	h.shared[key] = sharedValue{clone(value), h.lastCAS}
}

// RegisterForeignFunction makes fn callable with proxywasm.CallForeignFunction.
func (h *Host) RegisterForeignFunction(name string, fn func(param []byte) ([]byte, error)) {
	h.foreign[name] = fn
}

// Metric returns the value of the counter or gauge name.
func (h *Host) Metric(name string) (uint64, bool) {
	id, ok := h.metricIndex[name]
	if !ok {
		return 0, false
	}
	return h.metrics[id-1].value, true
}

// HistogramValues returns the observations recorded on histogram name.
func (h *Host) HistogramValues(name string) []uint64 {
	id, ok := h.metricIndex[name]
	if !ok {
		return nil
	}
	return append([]uint64(nil), h.metrics[id-1].records...)
}

// Queue returns the id of the queue name registered by this VM.
func (h *Host) Queue(name string) (proxywasm.Queue, bool) {
	id, ok := h.queueIndex[queueKey(h.opts.VMID, name)]
	return proxywasm.Queue(id), ok
}

// Enqueue appends data to queue q, as another VM would, and delivers
// OnQueueReady to the registering root context.
func (h *Host) Enqueue(q proxywasm.Queue, data []byte) {
	qu := h.queue(uint32(q))
	if qu == nil {
		h.tb.Fatalf("proxywasmtest: Enqueue on unknown queue %d", q)
		return
	}
	qu.items = append(qu.items, clone(data))
	qu.ready = false
	h.enter(qu.owner)
	h.guest.OnQueueReady(qu.owner, uint32(q))
}

// Dequeue removes the oldest item of queue q.
func (h *Host) Dequeue(q proxywasm.Queue) ([]byte, bool) {
	qu := h.queue(uint32(q))
	if qu == nil || len(qu.items) == 0 {
		return nil, false
	}
	d := qu.items[0]
	qu.items = qu.items[1:]
	return d, true
}

// DeliverQueueReady calls OnQueueReady for every queue the filter enqueued
// on since the last delivery, and returns how many it called.
func (h *Host) DeliverQueueReady() int {
	n := 0
	for i, qu := range h.queues {
		if qu.ready {
			qu.ready = false
			h.enter(qu.owner)
			h.guest.OnQueueReady(qu.owner, uint32(i+1))
			n++
		}
	}
	return n
}

// HTTPCalls returns the http_calls dispatched and not yet answered, oldest
// first.
func (h *Host) HTTPCalls() []*HTTPCall { return append([]*HTTPCall(nil), h.calls...) }

// NewStream creates an HTTP context for a new request.
func (h *Host) NewStream() *Stream {
	s := &Stream{h: h, id: h.newID(), props: make(map[string]string)}
	h.streams[s.id] = s
	h.enter(s.id)
	h.guest.OnContextCreate(s.id, h.root)
	return s
}

type sharedValue struct {
	data []byte
	cas  uint32
}

type queue struct {
	owner uint32
	items [][]byte
	ready bool
}

func queueKey(vmID, name string) string { return vmID + "\x00" + name }

func (h *Host) queue(id uint32) *queue {
	if id == 0 || int(id) > len(h.queues) {
		return nil
	}
	return h.queues[id-1]
}

type metric struct {
	kind    abi.MetricType
	value   uint64
	records []uint64
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func clonePairs(p [][2]string) [][2]string {
	out := make([][2]string, len(p))
	for i, kv := range p {
		out[i] = [2]string{strings.ToLower(strings.Clone(kv[0])), strings.Clone(kv[1])}
	}
	return out
}
