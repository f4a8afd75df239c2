package chain

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// recorder is a native test stage that logs its calls into a shared trace.
type recorder struct {
	name    string
	trace   *[]string
	reqAct  Action
	reqErr  error
	respErr error
	localTo int
	addResp bool
}

func (r *recorder) OnRequest(_ context.Context, x *exchange.Exchange) (Action, error) {
	*r.trace = append(*r.trace, "req:"+r.name)
	if r.reqErr != nil {
		return Continue, r.reqErr
	}
	if r.localTo != 0 {
		x.SendLocal(r.localTo, []byte("from "+r.name))
		return Stop, nil
	}
	return r.reqAct, nil
}

func (r *recorder) OnResponse(_ context.Context, x *exchange.Exchange) error {
	*r.trace = append(*r.trace, "resp:"+r.name)
	if r.addResp {
		x.Response.Header.Add("x-seen-by", r.name)
	}
	return r.respErr
}

func (r *recorder) Done(*exchange.Exchange) { *r.trace = append(*r.trace, "done:"+r.name) }

type statusErr struct{ code int }

func (e statusErr) Error() string { return "boom" }
func (e statusErr) Status() int   { return e.code }

func TestChain(t *testing.T) {
	tests := []struct {
		name       string
		stages     func(trace *[]string) []Stage
		wantAction Action
		wantStatus int
		wantTrace  []string
	}{
		{
			name: "all continue, response in reverse",
			stages: func(tr *[]string) []Stage {
				return []Stage{{Name: "a", Filter: &recorder{name: "a", trace: tr}}, {Name: "b", Filter: &recorder{name: "b", trace: tr}}, {Name: "c", Filter: &recorder{name: "c", trace: tr}}}
			},
			wantAction: Continue,
			wantTrace:  []string{"req:a", "req:b", "req:c", "resp:c", "resp:b", "resp:a", "done:c", "done:b", "done:a"},
		},
		{
			name: "local response stops the chain; earlier stages see it",
			stages: func(tr *[]string) []Stage {
				return []Stage{{Name: "a", Filter: &recorder{name: "a", trace: tr}}, {Name: "b", Filter: &recorder{name: "b", trace: tr, localTo: 401}}, {Name: "c", Filter: &recorder{name: "c", trace: tr}}}
			},
			wantAction: Stop,
			wantStatus: 401,
			wantTrace:  []string{"req:a", "req:b", "resp:a", "done:b", "done:a"},
		},
		{
			name: "fail closed answers the error's status",
			stages: func(tr *[]string) []Stage {
				return []Stage{{Name: "a", Filter: &recorder{name: "a", trace: tr, reqErr: statusErr{503}}}, {Name: "b", Filter: &recorder{name: "b", trace: tr}}}
			},
			wantAction: Stop,
			wantStatus: 503,
			wantTrace:  []string{"req:a", "done:a"},
		},
		{
			name: "fail closed without a status is 500",
			stages: func(tr *[]string) []Stage {
				return []Stage{{Name: "a", Filter: &recorder{name: "a", trace: tr, reqErr: errors.New("trap")}}}
			},
			wantAction: Stop,
			wantStatus: 500,
			wantTrace:  []string{"req:a", "done:a"},
		},
		{
			name: "fail open skips the stage",
			stages: func(tr *[]string) []Stage {
				return []Stage{{Name: "a", FailOpen: true, Filter: &recorder{name: "a", trace: tr, reqErr: errors.New("trap")}}, {Name: "b", Filter: &recorder{name: "b", trace: tr}}}
			},
			wantAction: Continue,
			wantTrace:  []string{"req:a", "req:b", "resp:b", "resp:a", "done:b", "done:a"},
		},
		{
			name: "stop without a local response is a 500, not a hang",
			stages: func(tr *[]string) []Stage {
				return []Stage{{Name: "a", Filter: &recorder{name: "a", trace: tr, reqAct: Stop}}}
			},
			wantAction: Stop,
			wantStatus: 500,
			wantTrace:  []string{"req:a", "done:a"},
		},
		{
			name: "response failure closed replaces the response",
			stages: func(tr *[]string) []Stage {
				return []Stage{{Name: "a", Filter: &recorder{name: "a", trace: tr}}, {Name: "b", Filter: &recorder{name: "b", trace: tr, respErr: statusErr{502}}}}
			},
			wantAction: Continue,
			wantStatus: 502,
			wantTrace:  []string{"req:a", "req:b", "resp:b", "resp:a", "done:b", "done:a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trace []string
			c := New(tt.stages(&trace), nil)
			var x exchange.Exchange
			var run Run
			act := c.OnRequest(context.Background(), &x, &run)
			if act != tt.wantAction {
				t.Fatalf("action %v, want %v", act, tt.wantAction)
			}
			c.OnResponse(context.Background(), &x, &run)
			c.Done(&x, &run)
			if tt.wantStatus != 0 && x.Response.Status != tt.wantStatus {
				t.Errorf("status %d, want %d", x.Response.Status, tt.wantStatus)
			}
			if tt.wantStatus == 0 && x.IsLocal() {
				t.Errorf("unexpected local response %d", x.Response.Status)
			}
			if !reflect.DeepEqual(trace, tt.wantTrace) {
				t.Errorf("trace\n got %v\nwant %v", trace, tt.wantTrace)
			}
		})
	}
}

func TestNilChain(t *testing.T) {
	var c *Chain
	var x exchange.Exchange
	var run Run
	if c.OnRequest(context.Background(), &x, &run) != Continue || c.HasStages() {
		t.Fatal("a nil chain must pass everything through")
	}
}

func BenchmarkChainThreeStages(b *testing.B) {
	var trace []string
	noop := func(n string) Stage { return Stage{Name: n, Filter: &noopFilter{}} }
	_ = trace
	c := New([]Stage{noop("a"), noop("b"), noop("c")}, nil)
	var x exchange.Exchange
	var run Run
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.OnRequest(ctx, &x, &run)
		c.OnResponse(ctx, &x, &run)
		c.Done(&x, &run)
	}
}

type noopFilter struct{}

func (noopFilter) OnRequest(context.Context, *exchange.Exchange) (Action, error) {
	return Continue, nil
}
func (noopFilter) OnResponse(context.Context, *exchange.Exchange) error { return nil }
func (noopFilter) Done(*exchange.Exchange)                              {}
