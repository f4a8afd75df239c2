package wasmhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmgate/wasmgate/wasmhost/internal/abi"
	"github.com/wasmgate/wasmgate/wasmhost/internal/pairs"
	"github.com/wasmgate/wasmgate/wasmhost/internal/rewrite"
)

const rootID = 1

// callback indexes into instance.fns.
type callback int

const (
	cbContextCreate callback = iota
	cbVMStart
	cbConfigure
	cbRequestHeaders
	cbRequestBody
	cbRequestTrailers
	cbResponseHeaders
	cbResponseBody
	cbResponseTrailers
	cbDone
	cbLog
	cbDelete
	cbTick
	cbHTTPCallResponse
	cbQueueReady
	numCallbacks
)

func callbackName(c callback) string {
	return [...]string{
		"proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure",
		"proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
		"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers",
		"proxy_on_done", "proxy_on_log", "proxy_on_delete",
		"proxy_on_tick", "proxy_on_http_call_response", "proxy_on_queue_ready",
	}[c]
}

// callCtx is the context of every call into an instance. It is not derived
// from request contexts on purpose: cancelling one request must not close an
// instance other streams use. Done is closed by the plugin's watchdog when a
// callback overruns; for modules not instrumented wazero then closes the
// module (instrumented ones trap on their kill global instead).
type callCtx struct {
	in   *instance
	done chan struct{}
}

func (c *callCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *callCtx) Done() <-chan struct{}       { return c.done }
func (c *callCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

type instanceKey struct{}

func (c *callCtx) Value(k any) any {
	if k == (instanceKey{}) {
		return c.in
	}
	return nil
}

func instanceFrom(ctx context.Context) *instance {
	if c, ok := ctx.(*callCtx); ok {
		return c.in
	}
	in, _ := ctx.Value(instanceKey{}).(*instance)
	return in
}

type event struct {
	callout *calloutResult
	queue   uint32
}

type calloutResult struct {
	token uint32
	resp  *CalloutResponse
}

// instance is one module instance. Everything below "guarded by lock" is
// only touched while holding lock (a 1-slot semaphore, so that waiting for
// it can honour a context).
type instance struct {
	p    *Plugin
	mod  api.Module
	mem  api.Memory
	cctx callCtx
	kill chan struct{} // == cctx.done
	// killGlobal is the instrumented module's kill flag (nil if not
	// instrumented); the watchdog sets it. Written before the first
	// deadline is stored, read by the watchdog after loading one.
	killGlobal api.MutableGlobal

	lock     chan struct{}
	dead     atomic.Bool
	replaced chan struct{} // closed when a replacement took the slot
	deadline atomic.Int64  // watchdog tick after which the running top-level call has overrun; 0 idle, -1 killed
	stop     chan struct{} // closed when dead: stops the event loop
	events   chan event
	tickSet  chan struct{}
	tickMs   atomic.Uint32
	doneCall chan struct{} // proxy_done was called
	bound    atomic.Int32  // HTTP contexts bound (len(contexts)), for pick without the lock
	// skip are the HTTP callbacks (1<<callback) the root context declared
	// its contexts do not act on (HTTPCallbacksProperty); written by the
	// root context's own callbacks, read by HTTP contexts, both under lock.
	skip uint32

	// guarded by lock
	started  bool
	closed   bool // module closed
	deadErr  error
	fns      [numCallbacks]api.Function
	nparams  [numCallbacks]int
	alloc    api.Function
	stack    [12]uint64
	astack   [1]uint64
	depth    int
	nextID   uint32
	contexts map[uint32]*HTTPContext
	deletes  []uint32 // context ids whose proxy_on_delete is deferred (flushDeletes)
	// retPtr and retSize are the guest's return buffer (ReturnBufferExport);
	// 0 when it offers none.
	retPtr, retSize uint32
	current         *HTTPContext // effective context, nil = root
	callout         *CalloutResponse
	nextCall        uint32
	enc             pairs.Encoder
	addPairFn       func(name, value string) bool
	scratch         []byte
	path            [16]string
}

// newInstance instantiates and starts one instance (start functions, root
// context, proxy_on_vm_start, proxy_on_configure) and starts its event loop.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	in := &instance{
		p:        p,
		kill:     make(chan struct{}),
		lock:     make(chan struct{}, 1),
		replaced: make(chan struct{}),
		stop:     make(chan struct{}),
		events:   make(chan event, 16),
		tickSet:  make(chan struct{}, 1),
		doneCall: make(chan struct{}, 1),
		nextID:   rootID + 1,
		contexts: make(map[uint32]*HTTPContext),
	}
	in.cctx = callCtx{in: in, done: in.kill}
	in.addPairFn = in.addPair
	if p.cfg.CallTimeout < 0 {
		in.cctx.done = nil
	}
	in.lock <- struct{}{} // held until started
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.live[in] = struct{}{}
	p.mu.Unlock()

	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(&logWriter{p: p, level: abi.LogInfo, stream: "stdout"}).
		WithStderr(&logWriter{p: p, level: abi.LogError, stream: "stderr"}).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(in.sleep).
		WithRandSource(rand.Reader)
	mod, err := p.rt.InstantiateModule(&in.cctx, p.compiled, mc)
	if err != nil {
		in.forget()
		return nil, fmt.Errorf("%w: instantiate: %w", ErrStartFailed, err)
	}
	in.mod = mod
	in.mem = mod.Memory()
	if p.instrumented {
		g, ok := mod.ExportedGlobal(rewrite.KillExport).(api.MutableGlobal)
		if !ok {
			in.forget()
			_ = mod.Close(context.Background())
			return nil, fmt.Errorf("%w: instrumented module lacks %s", ErrStartFailed, rewrite.KillExport)
		}
		in.killGlobal = g
	}
	in.alloc = mod.ExportedFunction(p.exports.alloc)
	for c := range numCallbacks {
		if f := mod.ExportedFunction(callbackName(c)); f != nil {
			in.fns[c] = f
			in.nparams[c] = len(f.Definition().ParamTypes())
		}
	}
	if err := in.start(); err != nil {
		in.die(err)
		in.release()
		return nil, err
	}
	in.started = true
	in.release()
	p.wg.Go(in.loop)
	return in, nil
}

func (in *instance) start() error {
	long := 10 * in.p.cfg.CallTimeout
	for _, name := range in.p.exports.start {
		if _, err := in.callFn(in.mod.ExportedFunction(name), long); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrStartFailed, name, err)
		}
	}
	if in.p.exports.main {
		if _, err := in.callFn(in.mod.ExportedFunction("main"), long, 0, 0); err != nil {
			return fmt.Errorf("%w: main: %w", ErrStartFailed, err)
		}
	}
	if err := in.findReturnBuffer(long); err != nil {
		return err
	}
	if _, err := in.callRaw(cbContextCreate, long, rootID, 0); err != nil {
		return fmt.Errorf("%w: root proxy_on_context_create: %w", ErrStartFailed, err)
	}
	if r, err := in.callRaw(cbVMStart, long, rootID, uint64(len(in.p.cfg.VMConfig))); err != nil {
		return fmt.Errorf("%w: %w", ErrVMStartFailed, err)
	} else if in.fns[cbVMStart] != nil && uint32(r) == 0 {
		return ErrVMStartFailed
	}
	if r, err := in.callRaw(cbConfigure, long, rootID, uint64(len(in.p.cfg.PluginConfig))); err != nil {
		return fmt.Errorf("%w: %w", ErrConfigureFailed, err)
	} else if in.fns[cbConfigure] != nil && uint32(r) == 0 {
		return ErrConfigureFailed
	}
	return nil
}

// ReturnBufferExport is the optional export through which a guest offers
// the host a buffer for small results (a wasmgate extension; sdk/go has
// it): wasmgate_return_buffer() returns the address of two little-endian
// u32, the buffer's address and size. A result that fits is then written
// there instead of into memory from proxy_on_memory_allocate, a nested
// call into the guest that costs a Go guest more than the rest of most
// host calls; the guest must copy it out before its next host call.
// Other hosts do not call it and allocate as the ABI says.
const ReturnBufferExport = "wasmgate_return_buffer"

// findReturnBuffer asks the guest for its return buffer, if it offers one
// (lock held, at start).
func (in *instance) findReturnBuffer(budget time.Duration) error {
	fn := in.mod.ExportedFunction(ReturnBufferExport)
	if fn == nil {
		return nil
	}
	if d := fn.Definition(); len(d.ParamTypes()) != 0 || len(d.ResultTypes()) != 1 || d.ResultTypes()[0] != api.ValueTypeI32 {
		return fmt.Errorf("%w: %s must be () -> i32", ErrStartFailed, ReturnBufferExport)
	}
	desc, err := in.callFn(fn, budget)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrStartFailed, ReturnBufferExport, err)
	}
	ptr, ok1 := in.mem.ReadUint32Le(uint32(desc))
	size, ok2 := in.mem.ReadUint32Le(uint32(desc) + 4)
	if !ok1 || !ok2 || uint64(ptr)+uint64(size) > uint64(in.mem.Size()) {
		return fmt.Errorf("%w: %s: buffer outside memory", ErrStartFailed, ReturnBufferExport)
	}
	in.retPtr, in.retSize = ptr, size
	return nil
}

// sleep implements WASI sleeping (poll_oneoff): it never outlasts the
// callback deadline and ends early when the watchdog fires.
func (in *instance) sleep(ns int64) {
	d := time.Duration(ns)
	if in.p.cfg.CallTimeout > 0 {
		d = min(d, in.p.cfg.CallTimeout)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-in.kill:
	}
}

func (in *instance) tryAcquire() bool {
	select {
	case in.lock <- struct{}{}:
		return true
	default:
		return false
	}
}

func (in *instance) acquire(ctx context.Context) error {
	select {
	case in.lock <- struct{}{}:
		return nil
	default:
	}
	select {
	case in.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *instance) release() { <-in.lock }

// bind registers c with in under a fresh context id (lock held).
func (in *instance) bind(c *HTTPContext) {
	for {
		c.id = in.nextID
		in.nextID++
		if in.nextID == 0 {
			in.nextID = rootID + 1
		}
		if _, used := in.contexts[c.id]; !used && c.id != rootID && c.id != 0 {
			break
		}
	}
	c.in = in
	in.contexts[c.id] = c
	in.bound.Add(1)
}

// unbind forgets c (lock held); a no-op when c is not bound to in.
func (in *instance) unbind(c *HTTPContext) {
	if in.contexts[c.id] == c {
		delete(in.contexts, c.id)
		in.bound.Add(-1)
	}
}

// call runs callback c if exported (else returns 0, nil). The lock must be
// held. Only args the export declares are passed, so older arities work.
func (in *instance) call(c callback, args ...uint64) (uint64, error) {
	return in.callRaw(c, in.p.cfg.CallTimeout, args...)
}

func (in *instance) callRaw(c callback, budget time.Duration, args ...uint64) (uint64, error) {
	fn := in.fns[c]
	if fn == nil {
		return 0, nil
	}
	args = args[:min(len(args), in.nparams[c])]
	r, err := in.callFn(fn, budget, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", callbackName(c), err)
	}
	return r, nil
}

func (in *instance) callFn(fn api.Function, budget time.Duration, args ...uint64) (uint64, error) {
	if in.dead.Load() {
		return 0, in.deadErr
	}
	st := in.stack[:]
	copy(st, args)
	var d int64
	if budget > 0 {
		d = in.p.deadlineAfter(budget)
		in.deadline.Store(d)
	}
	in.depth++
	err := fn.CallWithStack(&in.cctx, st)
	in.depth--
	if budget > 0 && !in.deadline.CompareAndSwap(d, 0) {
		// The watchdog fired: whatever the call returned (an instrumented
		// guest traps on unreachable), it is a deadline.
		err = sys.NewExitError(sys.ExitCodeDeadlineExceeded)
	}
	if err != nil {
		err = in.classify(err)
		in.die(err)
	} else if in.dead.Load() {
		err = in.deadErr // a nested call (the allocator) failed
	}
	if in.depth == 0 && in.dead.Load() && !in.closed && in.mod != nil {
		in.closed = true
		_ = in.mod.Close(context.Background())
	}
	if err != nil {
		return 0, err
	}
	return st[0], nil
}

// classify turns a wazero call error into one of our runtime errors.
func (in *instance) classify(err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded {
		return fmt.Errorf("%w (%v)", ErrDeadline, in.p.cfg.CallTimeout)
	}
	if in.mem != nil {
		// A heuristic: a trap with little room left to grow (less than
		// half the cap, at most 4 MiB) is blamed on the cap. Allocators trap
		// or abort when memory.grow fails, and Go's runtime grows its heap
		// by up to 4 MiB at a time.
		limit := uint64(in.p.cfg.MemoryLimitPages) << 16
		if headroom := limit - min(limit, uint64(in.mem.Size())); headroom < min(4<<20, limit/2) {
			return fmt.Errorf("%w: %w: %w", ErrTrap, ErrMemoryLimit, err)
		}
	}
	return fmt.Errorf("%w: %w", ErrTrap, err)
}

// die marks the instance dead (lock held): fails paused streams, stops the
// event loop, closes the module and schedules a replacement.
func (in *instance) die(err error) {
	if in.dead.Load() {
		return
	}
	in.deadErr = err
	in.dead.Store(true)
	close(in.stop)
	for _, c := range in.contexts {
		c.fail(fmt.Errorf("%w: %w", ErrInstanceLost, err))
	}
	in.p.h.store.ForgetOwner(in)
	if in.depth == 0 && !in.closed && in.mod != nil {
		in.closed = true
		_ = in.mod.Close(context.Background())
	}
	in.forget()
	if in.started && !errors.Is(err, ErrClosed) && !in.p.isClosed() {
		in.p.log.Error("wasm instance discarded", "error", err)
		in.p.replace(in)
	}
}

func (in *instance) forget() {
	in.p.mu.Lock()
	delete(in.p.live, in)
	in.p.mu.Unlock()
}

// shutdown runs the root context's end of life and kills the instance.
func (in *instance) shutdown(ctx context.Context) {
	if err := in.acquire(context.WithoutCancel(ctx)); err != nil {
		return
	}
	if in.dead.Load() {
		in.release()
		return
	}
	in.current = nil
	in.flushDeletes()
	r, err := in.call(cbDone, rootID)
	if err == nil && in.fns[cbDone] != nil && uint32(r) == 0 {
		// The plugin finishes asynchronously and calls proxy_done.
		in.release()
		wait := 10 * in.p.cfg.CallTimeout
		if wait <= 0 {
			wait = 10 * time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-in.doneCall:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		if in.acquire(context.WithoutCancel(ctx)) != nil {
			return
		}
	}
	if !in.dead.Load() {
		_, _ = in.call(cbDelete, rootID)
	}
	in.die(ErrClosed)
	in.release()
}

// loop delivers ticks, http_call responses and queue notifications.
func (in *instance) loop() {
	var tick *time.Ticker
	var tc <-chan time.Time
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	for {
		select {
		case <-in.stop:
			return
		case <-in.p.life.Done():
			return
		case <-in.tickSet:
			if tick != nil {
				tick.Stop()
				tick, tc = nil, nil
			}
			if ms := in.tickMs.Load(); ms > 0 {
				tick = time.NewTicker(time.Duration(ms) * time.Millisecond)
				tc = tick.C
			}
		case <-tc:
			in.rootCallback(func() { _, _ = in.call(cbTick, rootID) })
		case ev := <-in.events:
			if ev.callout != nil {
				in.rootCallback(func() {
					r := ev.callout.resp
					if r == nil {
						r = &CalloutResponse{}
					}
					in.callout = r
					_, _ = in.call(cbHTTPCallResponse, rootID, uint64(ev.callout.token),
						uint64(len(r.Headers)), uint64(len(r.Body)), uint64(len(r.Trailers)))
					in.callout = nil
				})
			} else {
				in.rootCallback(func() { _, _ = in.call(cbQueueReady, rootID, uint64(ev.queue)) })
			}
		}
	}
}

func (in *instance) rootCallback(f func()) {
	if in.acquire(in.p.life) != nil {
		return
	}
	defer in.release()
	if in.dead.Load() {
		return
	}
	in.current = nil
	in.flushDeletes()
	f()
	in.current = nil
}

// maxDeferredDeletes bounds the proxy_on_delete calls an instance owes.
const maxDeferredDeletes = 16

// flushDeletes runs the proxy_on_delete calls deferred by HTTPContext.Done
// (lock held). Every entry into the instance that creates a context or
// runs a root callback flushes them first, so the guest never holds a
// deleted context's id when a new context or a root callback could see
// it; deferring them saves a separate entry at the end of each request,
// which costs a Go guest more in cold caches than the call itself.
func (in *instance) flushDeletes() {
	if len(in.deletes) == 0 || in.dead.Load() {
		in.deletes = in.deletes[:0]
		return
	}
	cur := in.current
	in.current = nil
	for _, id := range in.deletes {
		if _, err := in.call(cbDelete, uint64(id)); err != nil {
			break // the instance died; the rest die with it
		}
	}
	in.deletes = in.deletes[:0]
	in.current = cur
}

// post queues an event for the loop without blocking the caller.
func (in *instance) post(ev event) {
	select {
	case in.events <- ev:
		return
	default:
	}
	go func() {
		select {
		case in.events <- ev:
		case <-in.stop:
		case <-in.p.life.Done():
		}
	}()
}

// QueueReady implements shared.Notifier.
func (in *instance) QueueReady(id uint32) { in.post(event{queue: id}) }

// logWriter forwards WASI stdout/stderr to the plugin's logger, line by line.
type logWriter struct {
	p      *Plugin
	level  uint32
	stream string
	buf    []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			w.buf = append(w.buf, b...)
			if len(w.buf) > 4096 {
				w.flush()
			}
			break
		}
		w.buf = append(w.buf, b[:i]...)
		w.flush()
		b = b[i+1:]
	}
	return n, nil
}

func (w *logWriter) flush() {
	w.p.log.Log(context.Background(), slogLevel(w.level), string(w.buf), "stream", w.stream)
	w.buf = w.buf[:0]
}

var _ io.Writer = (*logWriter)(nil)
