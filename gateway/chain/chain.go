// Package chain runs an ordered list of stages over an exchange: every stage
// on the request in order, then the stages that ran on the response in
// reverse order.
package chain

import (
	"context"
	"errors"
	"log/slog"

	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// Action is what a stage tells the chain after handling the request.
type Action uint8

const (
	// Continue passes the exchange to the next stage.
	Continue Action = iota
	// Stop ends request processing; the stage has set a local response with
	// Exchange.SendLocal.
	Stop
)

// Filter is one stage of a chain. WASM filters and policies implement it.
// A filter may block in OnRequest (for example while a Proxy-Wasm filter is
// paused on an http_call) but must return when ctx is done.
type Filter interface {
	// OnRequest handles the request. An error fails the stage: the chain
	// applies the stage's failure policy.
	OnRequest(ctx context.Context, x *exchange.Exchange) (Action, error)
	// OnResponse handles the response headers, upstream or local. Errors
	// fail the stage like OnRequest's.
	OnResponse(ctx context.Context, x *exchange.Exchange) error
	// Done is called once per exchange for every filter whose OnRequest ran,
	// after the response is complete, to release per-request state.
	Done(x *exchange.Exchange)
}

// StatusError is an error that names the status a failing-closed stage
// answers with.
type StatusError interface {
	error
	Status() int
}

// Stage is a named filter with its failure policy.
type Stage struct {
	Name   string
	Filter Filter
	// FailOpen skips the stage when it fails instead of answering an error.
	FailOpen bool
}

// Chain is an immutable, ordered list of stages. Safe for concurrent use.
type Chain struct {
	stages []Stage
	log    *slog.Logger
}

// New returns a chain over stages, in order. log receives stage failures.
func New(stages []Stage, log *slog.Logger) *Chain {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Chain{stages: append([]Stage(nil), stages...), log: log}
}

// Len returns the number of stages.
func (c *Chain) Len() int {
	if c == nil {
		return 0
	}
	return len(c.stages)
}

// Run is the chain's progress on one exchange. It lives inside the front
// end's per-request state, so running a chain allocates nothing.
type Run struct {
	// ran counts the stages whose OnRequest was called.
	ran int
	// responders counts the stages (a prefix) that see the response.
	responders int
}

// OnRequest runs the stages in order until one stops. It returns Stop when
// the exchange holds a local response (a stage stopped or failed closed).
func (c *Chain) OnRequest(ctx context.Context, x *exchange.Exchange, r *Run) Action {
	*r = Run{}
	if c == nil {
		return Continue
	}
	for i := range c.stages {
		s := &c.stages[i]
		r.ran = i + 1
		act, err := s.Filter.OnRequest(ctx, x)
		if err != nil {
			if s.FailOpen {
				c.log.Warn("stage failed; skipped (fail open)", "stage", s.Name, "phase", "request", "err", err)
				continue
			}
			c.log.Error("stage failed; request refused (fail closed)", "stage", s.Name, "phase", "request", "err", err)
			x.SendLocal(FailStatus(err), nil)
			r.responders = i
			return Stop
		}
		if act == Stop {
			if !x.IsLocal() {
				// A stage that stops must say what to answer; treat
				// silence as an internal error rather than hang.
				x.SendLocal(500, nil)
			}
			r.responders = i
			return Stop
		}
	}
	r.responders = len(c.stages)
	return Continue
}

// OnResponse runs OnResponse in reverse order over the stages that saw the
// request before it stopped (a stage that produced a local response does not
// see it). A failing closed stage replaces the response with an error.
func (c *Chain) OnResponse(ctx context.Context, x *exchange.Exchange, r *Run) {
	if c == nil {
		return
	}
	for i := r.responders - 1; i >= 0; i-- {
		s := &c.stages[i]
		if err := s.Filter.OnResponse(ctx, x); err != nil {
			if s.FailOpen {
				c.log.Warn("stage failed; skipped (fail open)", "stage", s.Name, "phase", "response", "err", err)
				continue
			}
			c.log.Error("stage failed; response replaced (fail closed)", "stage", s.Name, "phase", "response", "err", err)
			x.SendLocal(FailStatus(err), nil)
		}
	}
}

// Done tells every stage that ran that the exchange is over.
func (c *Chain) Done(x *exchange.Exchange, r *Run) {
	if c == nil {
		return
	}
	for i := r.ran - 1; i >= 0; i-- {
		c.stages[i].Filter.Done(x)
	}
}

// BodyLimiter is implemented by filters that read the request body whole
// (Exchange.Request.Body); BodyLimit is the largest body they accept, 0 for
// none.
type BodyLimiter interface {
	BodyLimit() int64
}

// BodyLimit returns the largest BodyLimit of the chain's stages: the front
// end buffers request bodies up to it before running the chain.
func (c *Chain) BodyLimit() int64 {
	if c == nil {
		return 0
	}
	var m int64
	for _, s := range c.stages {
		if bl, ok := s.Filter.(BodyLimiter); ok {
			m = max(m, bl.BodyLimit())
		}
	}
	return m
}

// HasStages reports whether the chain has any stage, so front ends can skip
// building header views for an empty chain.
func (c *Chain) HasStages() bool { return c.Len() > 0 }

// FailStatus is the status a stage's failure answers with: the error's
// Status() when it is a StatusError naming a 4xx or 5xx, else 500.
func FailStatus(err error) int {
	var se StatusError
	if errors.As(err, &se) && se.Status() >= 400 && se.Status() <= 599 {
		return se.Status()
	}
	return 500
}
