package wasmhost

import (
	"context"
	"fmt"
)

type ctxState uint8

const (
	stateDetached ctxState = iota // the embedder owns the stream; the guest may not touch it
	stateCallback                 // one of its callbacks runs
	statePaused                   // paused; the embedder's goroutine waits
)

type wakeMsg struct {
	action Action
	err    error
}

// HTTPContext is the plugin's side of one stream (a Proxy-Wasm HTTP
// context), bound to one instance at a time (see "Bystanders" in the
// package documentation for when it moves). Its methods are called by one goroutine
// at a time, in stream order: OnRequestHeaders, OnRequestBody...,
// OnRequestTrailers, OnResponseHeaders, OnResponseBody...,
// OnResponseTrailers (skipping what the stream does not have), then Done
// exactly once. After Done the HTTPContext must not be used.
//
// The ctx of each method bounds waiting for the instance and, when the
// plugin pauses the stream, waiting for it to be resumed; it never
// interrupts guest code (CallTimeout does).
type HTTPContext struct {
	p      *Plugin
	in     *instance
	id     uint32
	stream Stream
	err    error // sticky failure; owned by the embedder's goroutine
	wake   chan wakeMsg

	// guarded by in.lock
	state     ctxState
	continued bool // proxy_continue_stream during its own callback
	local     bool // a local response was sent
	closed    bool // proxy_close_stream
	created   bool // proxy_on_context_create ran on c.in
}

// NewHTTPContext binds a new HTTP context to an instance and runs
// proxy_on_context_create. s must stay valid until Done returns.
func (p *Plugin) NewHTTPContext(ctx context.Context, s Stream) (*HTTPContext, error) {
	in, err := p.pick(ctx)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: plugin %q: %w", p.cfg.Name, err)
	}
	c, _ := p.ctxPool.Get().(*HTTPContext)
	if c == nil {
		c = &HTTPContext{wake: make(chan wakeMsg, 1)}
	}
	c.p, c.stream, c.err = p, s, nil
	c.continued, c.local, c.closed, c.created = false, false, false, false
	if in.skip != 0 {
		// The filter declared the callbacks it acts on: its guest context
		// is created with the first of them (often the response headers,
		// so one entry into the instance serves both), and not at all
		// when none comes.
		in.bind(c)
		in.release()
		return c, nil
	}
	if err := c.create(in); err != nil {
		in.unbind(c)
		in.release()
		*c = HTTPContext{wake: c.wake}
		p.ctxPool.Put(c)
		return nil, fmt.Errorf("wasmhost: plugin %q: %w", p.cfg.Name, err)
	}
	in.release()
	return c, nil
}

// create binds c to in under a fresh context id and runs
// proxy_on_context_create (in's lock held).
func (c *HTTPContext) create(in *instance) error {
	in.bind(c)
	return c.guestCreate(in)
}

// guestCreate runs proxy_on_context_create for c, bound to in, after the
// deletes in owes the guest (in's lock held).
func (c *HTTPContext) guestCreate(in *instance) error {
	in.flushDeletes()
	c.state = stateCallback
	in.current = c
	_, err := in.call(cbContextCreate, uint64(c.id), rootID)
	in.current = nil
	c.state = stateDetached
	c.created = err == nil
	return err
}

// rebind moves a detached stream off its discarded instance old (whose lock
// is held, and released here) onto a live instance, where it gets a fresh
// guest context (proxy_on_context_create). It returns that instance with
// its lock held. The guest state of the stream's earlier callbacks is lost
// with the old instance, as in Envoy when a VM is replaced; nothing is
// replayed.
func (c *HTTPContext) rebind(ctx context.Context, old *instance) (*instance, error) {
	cause := old.deadErr
	old.unbind(c)
	old.release()
	in, err := c.p.pick(ctx)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: plugin %q: %w: %w (no live instance to move the stream to: %w)",
			c.p.cfg.Name, ErrInstanceLost, cause, err)
	}
	if err := c.create(in); err != nil {
		// c stays bound to in (now dead too) until Done.
		in.release()
		return nil, fmt.Errorf("wasmhost: plugin %q: %w: moving the stream to a live instance: %w",
			c.p.cfg.Name, ErrInstanceLost, err)
	}
	c.p.log.Debug("stream moved to a live instance after its instance was discarded", "cause", cause)
	return in, nil
}

// OnRequestHeaders runs proxy_on_request_headers. endOfStream tells that the
// request has no body and no trailers.
func (c *HTTPContext) OnRequestHeaders(ctx context.Context, endOfStream bool) (Action, error) {
	return c.run(ctx, cbRequestHeaders, endOfStream, false)
}

// OnRequestBody runs proxy_on_request_body with the body buffered so far
// (Stream.Body(RequestBody)). With endOfStream false, the plugin may answer
// ActionBuffer.
func (c *HTTPContext) OnRequestBody(ctx context.Context, endOfStream bool) (Action, error) {
	return c.run(ctx, cbRequestBody, endOfStream, true)
}

// OnRequestTrailers runs proxy_on_request_trailers, after the request body
// if any. Stream.HeaderMap(RequestTrailers) must return the trailers: the
// plugin may read and change them (get, add, replace, remove) before the
// embedder forwards them. As for the other callbacks, the plugin may answer
// locally (ActionStop), close the stream (ActionReset) or pause it.
func (c *HTTPContext) OnRequestTrailers(ctx context.Context) (Action, error) {
	return c.run(ctx, cbRequestTrailers, true, false)
}

// OnResponseHeaders runs proxy_on_response_headers.
func (c *HTTPContext) OnResponseHeaders(ctx context.Context, endOfStream bool) (Action, error) {
	return c.run(ctx, cbResponseHeaders, endOfStream, false)
}

// OnResponseBody runs proxy_on_response_body, like OnRequestBody.
func (c *HTTPContext) OnResponseBody(ctx context.Context, endOfStream bool) (Action, error) {
	return c.run(ctx, cbResponseBody, endOfStream, true)
}

// OnResponseTrailers runs proxy_on_response_trailers, after the response
// body, with Stream.HeaderMap(ResponseTrailers), like OnRequestTrailers.
func (c *HTTPContext) OnResponseTrailers(ctx context.Context) (Action, error) {
	return c.run(ctx, cbResponseTrailers, true, false)
}

func (c *HTTPContext) args(cb callback, eos bool) (uint64, uint64) {
	var e uint64
	if eos {
		e = 1
	}
	switch cb {
	case cbRequestBody:
		return uint64(len(c.stream.Body(RequestBody))), e
	case cbResponseBody:
		return uint64(len(c.stream.Body(ResponseBody))), e
	case cbRequestHeaders:
		return mapLen(c.stream.HeaderMap(RequestHeaders)), e
	case cbResponseHeaders:
		return mapLen(c.stream.HeaderMap(ResponseHeaders)), e
	case cbRequestTrailers:
		return mapLen(c.stream.HeaderMap(RequestTrailers)), 0
	case cbResponseTrailers:
		return mapLen(c.stream.HeaderMap(ResponseTrailers)), 0
	}
	return 0, 0
}

func mapLen(m HeaderMap) uint64 {
	if m == nil {
		return 0
	}
	return uint64(m.Len())
}

func (c *HTTPContext) run(ctx context.Context, cb callback, eos, body bool) (Action, error) {
	if c.err != nil {
		return ActionContinue, c.err
	}
	in := c.in
	if err := in.acquire(ctx); err != nil {
		return ActionContinue, fmt.Errorf("wasmhost: plugin %q: waiting for instance: %w", c.p.cfg.Name, err)
	}
	if in.dead.Load() {
		// Another stream's callback killed the instance while this stream
		// was detached: carry on in a live instance.
		var err error
		if in, err = c.rebind(ctx, in); err != nil {
			c.err = err
			return ActionContinue, err
		}
	}
	if c.closed {
		in.release()
		return ActionReset, nil
	}
	if in.fns[cb] == nil || in.skip&(1<<cb) != 0 {
		in.release()
		return ActionContinue, nil
	}
	if !c.created {
		if err := c.guestCreate(in); err != nil {
			c.err = fmt.Errorf("wasmhost: plugin %q: %w", c.p.cfg.Name, err)
			in.release()
			return ActionContinue, c.err
		}
	}
	a1, a2 := c.args(cb, eos)
	c.state, c.continued = stateCallback, false
	in.current = c
	r, err := in.call(cb, uint64(c.id), a1, a2)
	in.current = nil
	c.state = stateDetached
	if err != nil {
		c.err = fmt.Errorf("wasmhost: plugin %q: %w", c.p.cfg.Name, err)
		in.release()
		return ActionContinue, c.err
	}
	switch {
	case c.closed:
		in.release()
		return ActionReset, nil
	case c.local:
		in.release()
		return ActionStop, nil
	case uint32(r) == 0 || c.continued:
		in.release()
		return ActionContinue, nil
	case body && !eos:
		in.release()
		return ActionBuffer, nil
	}
	// Paused: wait for proxy_continue_stream, proxy_close_stream or
	// proxy_send_local_response from another callback.
	c.state = statePaused
	in.release()
	select {
	case m := <-c.wake:
		return c.woken(m)
	case <-ctx.Done():
	}
	in.lock <- struct{}{}
	if c.state == statePaused {
		c.state = stateDetached
		in.release()
		return ActionContinue, fmt.Errorf("wasmhost: plugin %q: %w: %w", c.p.cfg.Name, ErrPaused, ctx.Err())
	}
	in.release()
	return c.woken(<-c.wake) // resumed concurrently
}

// woken returns what ended a pause. A paused stream whose instance was
// discarded cannot be resumed anywhere (the callback that would have
// resumed it is gone with the instance): that failure sticks.
func (c *HTTPContext) woken(m wakeMsg) (Action, error) {
	if m.err != nil {
		c.err = fmt.Errorf("wasmhost: plugin %q: %w", c.p.cfg.Name, m.err)
		return ActionContinue, c.err
	}
	return m.action, nil
}

// resume ends a pause (lock held).
func (c *HTTPContext) resume(a Action) {
	if c.state == statePaused {
		c.state = stateDetached
		c.wake <- wakeMsg{action: a}
	}
}

// fail ends a pause with an error and poisons the context (lock held).
func (c *HTTPContext) fail(err error) {
	if c.state == statePaused {
		c.state = stateDetached
		c.wake <- wakeMsg{err: err}
	}
}

// accessible tells whether the guest may touch the stream now (lock held).
func (c *HTTPContext) accessible() bool {
	return c != nil && c.state != stateDetached
}

// Done runs proxy_on_done, proxy_on_log and proxy_on_delete (the Stream is
// still readable there, for access logging) and releases the context. It
// waits for the instance regardless of ctx (callbacks are bounded by
// CallTimeout), so that the guest's context is always deleted; ctx is
// accepted for symmetry and future use.
func (c *HTTPContext) Done(ctx context.Context) {
	_ = ctx
	in := c.in
	in.lock <- struct{}{} // not under ctx: the guest context must be deleted
	switch {
	case in.dead.Load() || !c.created:
	case in.skip&(1<<cbLog) != 0:
		// The filter declared it does not log, so nothing it can see
		// happens at the end of the stream: its proxy_on_delete waits for
		// its next entry into the instance (see flushDeletes).
		in.deletes = append(in.deletes, c.id)
		if len(in.deletes) >= maxDeferredDeletes {
			in.flushDeletes()
		}
	default:
		c.state = stateCallback
		in.current = c
		if _, err := in.call(cbDone, uint64(c.id)); err == nil {
			if _, err := in.call(cbLog, uint64(c.id)); err == nil {
				_, _ = in.call(cbDelete, uint64(c.id))
			}
		}
		in.current = nil
	}
	c.state = stateDetached
	in.unbind(c)
	in.release()
	select { // drop a wake-up nobody waited for
	case <-c.wake:
	default:
	}
	p := c.p
	*c = HTTPContext{wake: c.wake}
	p.ctxPool.Put(c)
}
