package wasmhost_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/wasmhost"
)

// TestPickPrefersUnboundInstance: while the pool has an instance no stream
// is bound to, a new stream gets it, so a stream that kills its instance
// has no bystanders.
func TestPickPrefersUnboundInstance(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{PoolSize: 2})
	ctx := context.Background()
	for range 5 { // whatever the round-robin position
		waitFor(t, "two live instances", func() bool { return len(wasmhost.InstanceMemoryBytes(p)) == 2 })
		a := newStream("x-in", "a")
		ac, err := p.NewHTTPContext(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		bc, err := p.NewHTTPContext(ctx, newStream("x-mode", "trap"))
		if err != nil {
			t.Fatal(err)
		}
		home := wasmhost.BoundInstance(ac)
		if wasmhost.BoundInstance(bc) == home {
			t.Fatal("second stream bound to the busy instance while the other one is unbound")
		}
		if _, err := bc.OnRequestHeaders(ctx, true); !errors.Is(err, wasmhost.ErrTrap) {
			t.Fatalf("trap: %v", err)
		}
		bc.Done(ctx)
		if _, err := ac.OnRequestHeaders(ctx, true); err != nil {
			t.Fatal(err)
		}
		a.respond()
		if _, err := ac.OnResponseHeaders(ctx, true); err != nil || a.resp("x-out") != "a" {
			t.Fatalf("stream on the healthy instance: %v, x-out %q", err, a.resp("x-out"))
		}
		if wasmhost.BoundInstance(ac) != home {
			t.Fatal("a stream whose instance is healthy moved")
		}
		ac.Done(ctx)
	}
}

// TestPausedBystanderFails: a stream paused on an http_call when another
// stream kills their instance cannot be resumed (the response would have
// been delivered to the dead instance): it fails with ErrInstanceLost, and
// so do its later callbacks.
func TestPausedBystanderFails(t *testing.T) {
	e := newEnv(t)
	dispatched := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	p := e.load(t, wasmhost.PluginConfig{
		HTTPCall: func(ctx context.Context, _ *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
			dispatched <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "200"}}}, nil
		},
	})
	ctx := context.Background()
	paused := newStream("x-mode", "call")
	pc, err := p.NewHTTPContext(ctx, paused)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := pc.OnRequestHeaders(ctx, true)
		done <- err
	}()
	<-dispatched
	c, _, err := requestHeaders(t, ctx, p, newStream("x-mode", "trap"))
	if !errors.Is(err, wasmhost.ErrTrap) {
		t.Fatalf("trap: %v", err)
	}
	c.Done(ctx)
	if err := <-done; !errors.Is(err, wasmhost.ErrInstanceLost) || !errors.Is(err, wasmhost.ErrTrap) {
		t.Fatalf("paused bystander: %v, want ErrInstanceLost (caused by ErrTrap)", err)
	}
	paused.respond()
	if _, err := pc.OnResponseHeaders(ctx, true); !errors.Is(err, wasmhost.ErrInstanceLost) {
		t.Fatalf("paused bystander's next callback: %v, want ErrInstanceLost", err)
	}
	pc.Done(ctx)
}

// TestBystandersSurviveConcurrentCrashes: many streams share a pool of two
// instances while some of them trap: every stream that does not trap
// completes all its callbacks, moving to a live instance when its own was
// discarded under it.
func TestBystandersSurviveConcurrentCrashes(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, wasmhost.PluginConfig{PoolSize: 2})
	ctx := context.Background()
	var traps atomic.Int32
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				crash := (w+i)%7 == 0
				v := fmt.Sprintf("w%d-%d", w, i)
				s := newStream("x-in", v)
				if crash {
					s = newStream("x-mode", "trap")
				}
				c, err := p.NewHTTPContext(ctx, s)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = c.OnRequestHeaders(ctx, true)
				if crash {
					if !errors.Is(err, wasmhost.ErrTrap) {
						t.Errorf("crashing stream: %v, want ErrTrap", err)
					}
					traps.Add(1)
					c.Done(ctx)
					continue
				}
				if err != nil {
					t.Errorf("stream %s request headers: %v", v, err)
				}
				time.Sleep(100 * time.Microsecond) // the upstream's latency: other streams crash meanwhile
				s.respond()
				if _, err := c.OnResponseHeaders(ctx, true); err != nil {
					t.Errorf("stream %s response headers: %v", v, err)
				}
				c.Done(ctx)
				if got := s.resp("x-out"); got != v {
					t.Errorf("stream %s: x-out = %q", v, got)
				}
			}
		})
	}
	wg.Wait()
	if traps.Load() == 0 {
		t.Fatal("no stream trapped")
	}
	moved := strings.Count(e.logs.String(), "stream moved to a live instance")
	t.Logf("%d traps, %d bystanders moved", traps.Load(), moved)
	if moved == 0 {
		t.Fatal("no bystander was moved: the test did not exercise what it is for")
	}
}
