package upstream

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// cancelPeer is an endpoint that answers /ok at once and holds any other
// request until the gateway gives it up: got says a held request arrived,
// gone that the gateway closed the connection (HTTP/1.1) or reset the
// stream (HTTP/2) it came on.
type cancelPeer struct {
	addr      string
	got, gone chan struct{}
}

func newCancelPeer(t *testing.T, protocol string) *cancelPeer {
	t.Helper()
	p := &cancelPeer{got: make(chan struct{}, 8), gone: make(chan struct{}, 8)}
	if protocol != ProtocolH2C {
		srv := newRawServer(t, func(_ *rawServer, nc net.Conn, w *bufio.Writer, req *http.Request, _ []byte, _, _ int) bool {
			if req.URL.Path == "/ok" {
				w.WriteString(okResponse(200, "ok"))
				return true
			}
			p.got <- struct{}{}
			var one [1]byte
			_, _ = nc.Read(one[:]) // returns when the gateway closes (or at cleanup)
			p.gone <- struct{}{}
			return false
		})
		p.addr = srv.addr()
		return p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		p.got <- struct{}{}
		<-r.Context().Done() // the stream was reset (or the server closes)
		p.gone <- struct{}{}
	})
	srv := &http.Server{Handler: h2c.NewHandler(h, &http2.Server{})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.addr = ln.Addr().String()
	return p
}

// TestForwardCancelled: when the request's context ends (an HTTP/2 or
// HTTP/3 client reset its stream) while the gateway waits for the response
// head, the try ends at once: the upstream connection is closed or its
// stream reset, the endpoint's in-flight slot is freed (checkAccounting at
// cleanup), the call fails with 499, and nothing counts against the
// endpoint: no retry, no outlier ejection even at one failure.
func TestForwardCancelled(t *testing.T) {
	tests := []struct {
		name     string
		protocol string
		early    bool // the context ends before Forward is called
	}{
		{name: "http/1.1 waiting for the head"},
		{name: "h2c waiting for the head", protocol: ProtocolH2C},
		{name: "http/1.1 already cancelled", early: true},
		{name: "h2c already cancelled", protocol: ProtocolH2C, early: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := newCancelPeer(t, tt.protocol)
			u := newUpstream(t, Config{
				Endpoints: endpoints(peer.addr), Protocol: tt.protocol, Timeout: time.Minute,
				RetryAttempts: 2, RetryOn: RetryReset | RetryConnectFailure | RetryGatewayError | Retry5xx,
				Outlier: &Outlier{Consecutive5xx: 1, ConsecutiveConnectFailures: 1, BaseEjectionTime: time.Minute, MaxEjectionPercent: 100},
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.early {
				cancel()
			} else {
				go func() {
					select {
					case <-peer.got:
						cancel()
					case <-time.After(waitLimit):
					}
				}()
			}
			resp := new(fasthttp.Response)
			var call Call
			err := u.Forward(ctx, newRequest("GET", "/hold", ""), resp, &call)
			ue := upstreamError(t, err)
			if ue.Code != StatusClientClosed || ue.Reason != "client closed request" {
				t.Fatalf("got %d %q (%v), want 499 client closed request", ue.Code, ue.Reason, err)
			}
			if !tt.early {
				if call.Tries != 1 {
					t.Fatalf("%d tries, want 1: a cancelled request is not retried", call.Tries)
				}
				wait(t, peer.gone, "the endpoint to see the request given up")
			}
			if h := u.Health(); h[0].Ejected {
				t.Fatalf("the endpoint was ejected for a request its client gave up: %+v", h[0])
			}
			// The endpoint still serves, on the same upstream.
			r := forward(t, u, newRequest("GET", "/ok", ""))
			if r.err != nil || r.status != 200 || r.body != "ok" {
				t.Fatalf("the next request: %d %q %v", r.status, r.body, r.err)
			}
		})
	}
}
