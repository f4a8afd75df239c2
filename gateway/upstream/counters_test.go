package upstream

import (
	"context"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestEndpointCounters: each try lands in exactly one of an endpoint's
// counters, by response class or by failure reason.
func TestEndpointCounters(t *testing.T) {
	tests := []struct {
		name    string
		handler rawHandler // nil: nothing listens
		timeout time.Duration
		want    EndpointCount
	}{
		{name: "2xx", handler: reply(okResponse(204, "")), want: EndpointCount{Responses: [6]uint64{0, 1, 0, 0, 0, 0}}},
		{name: "3xx", handler: reply(okResponse(302, "")), want: EndpointCount{Responses: [6]uint64{0, 0, 1, 0, 0, 0}}},
		{name: "4xx", handler: reply(okResponse(429, "")), want: EndpointCount{Responses: [6]uint64{0, 0, 0, 1, 0, 0}}},
		{name: "5xx", handler: reply(okResponse(503, "")), want: EndpointCount{Responses: [6]uint64{0, 0, 0, 0, 1, 0}}},
		{name: "status 600 is other", handler: reply("HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n"), want: EndpointCount{Responses: [6]uint64{0, 0, 0, 0, 0, 1}}},
		{name: "reset", handler: resetHandler, want: EndpointCount{Reset: 1}},
		{name: "timeout", handler: holdHandler, timeout: 50 * time.Millisecond, want: EndpointCount{Timeout: 1}},
		{name: "invalid response", handler: replyAndClose("HTTZ/1.1 two hundred\r\n\r\n"), want: EndpointCount{Protocol: 1}},
		{name: "connect failure", want: EndpointCount{Connect: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := refusedAddr(t)
			if tt.handler != nil {
				addr = newRawServer(t, tt.handler).addr()
			}
			u := newUpstream(t, Config{Endpoints: endpoints(addr), Timeout: tt.timeout})
			_ = forward(t, u, newRequest("GET", "/", ""))
			if got := u.Counters(u.Endpoints()[0]).Load(); got != tt.want {
				t.Fatalf("counts %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestEndpointCountersOverflowAndCancel: a try the connection limit kept
// from being sent counts as overflow; one the client gave up counts
// nowhere.
func TestEndpointCountersOverflowAndCancel(t *testing.T) {
	peer := newCancelPeer(t, "")
	u := newUpstream(t, Config{Endpoints: endpoints(peer.addr), MaxConnections: 1, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- u.Forward(ctx, newRequest("GET", "/hold", ""), new(fasthttp.Response), new(Call))
	}()
	wait(t, peer.got, "the held request")
	if r := get(t, u); r.err == nil || upstreamError(t, r.err).Code != 503 {
		t.Fatalf("a second request past max_connections 1: %v", r.err)
	}
	cancel()
	if err := <-done; upstreamError(t, err).Code != StatusClientClosed {
		t.Fatalf("the held request: %v", err)
	}
	if got, want := u.Counters(u.Endpoints()[0]).Load(), (EndpointCount{Overflow: 1}); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
}

// BenchmarkObserveResponse is what the plain path adds per response for
// the endpoint's counters (and outlier detection, off here).
func BenchmarkObserveResponse(b *testing.B) {
	u, err := New(Config{Name: "b", Endpoints: endpoints("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")})
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	ep := u.Endpoints()[1]
	b.ReportAllocs()
	for b.Loop() {
		u.ObserveResponse(ep, 200)
	}
}
