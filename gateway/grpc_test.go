package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// startGRPC serves the standard health service (unary Check, streaming
// Watch) in cleartext (h2c) or over TLS with creds.
func startGRPC(t *testing.T, creds credentials.TransportCredentials) (string, *health.Server) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	s := grpc.NewServer(opts...)
	hs := health.NewServer()
	hs.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String(), hs
}

func TestGRPCThroughGateway(t *testing.T) {
	ca := newTestCA(t, "test CA")
	beCert, beKey := ca.issue(t, "backend", certOpts{names: []string{"grpc.internal"}})
	siteCert, siteKey := ca.issue(t, "site", certOpts{names: []string{"localhost"}})
	pair, err := tls.LoadX509KeyPair(beCert, beKey)
	if err != nil {
		t.Fatal(err)
	}
	plainAddr, plainHealth := startGRPC(t, nil)
	tlsAddr, tlsHealth := startGRPC(t, credentials.NewServerTLSFromCert(&pair))

	tests := []struct {
		name     string
		upstream string
		hs       *health.Server
		front    string // "h2c" or "h2"
	}{
		{"h2c to h2c", fmt.Sprintf(`protocol = "h2c"
  endpoint %q {}`, plainAddr), plainHealth, "h2c"},
		{"h2 (TLS) to h2 (TLS)", fmt.Sprintf(`protocol = "h2"
  endpoint %q {}
  tls {
    ca_file     = %q
    server_name = "grpc.internal"
  }`, tlsAddr, ca.caFile(t)), tlsHealth, "h2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listener := `listener "web" {
  address  = "127.0.0.1:0"
  http2    = true
  upstream = "g"
}`
			if tt.front == "h2" {
				listener = fmt.Sprintf(`listener "web" {
  address  = "127.0.0.1:0"
  protocol = "https"
  upstream = "g"
  tls {
%s
  }
}`, certBlock("site", siteCert, siteKey, ""))
			}
			src := listener + "\nupstream \"g\" {\n  " + tt.upstream + "\n}\n"
			_, addr := startTLSGateway(t, src, Options{})
			creds := insecure.NewCredentials()
			if tt.front == "h2" {
				creds = credentials.NewTLS(tlsClientConfig(ca, "localhost"))
			}
			cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithAuthority("localhost"))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			client := healthpb.NewHealthClient(cc)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			// Unary.
			r, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
			if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("Check: %v %v", r, err)
			}
			// A gRPC error travels in trailers (trailers-only here).
			_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"})
			if status.Code(err) != codes.NotFound {
				t.Fatalf("Check(unknown): %v, want NotFound", err)
			}
			// Server streaming: the first status, then a change.
			w, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
			if err != nil {
				t.Fatal(err)
			}
			m, err := w.Recv()
			if err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("Watch first: %v %v", m, err)
			}
			tt.hs.SetServingStatus("svc", healthpb.HealthCheckResponse_NOT_SERVING)
			m, err = w.Recv()
			if err != nil || m.Status != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Fatalf("Watch change: %v %v", m, err)
			}
			tt.hs.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
			m, err = w.Recv()
			if err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("Watch change back: %v %v", m, err)
			}
			cancel()
		})
	}
}

func TestHTTPSUpstream(t *testing.T) {
	ca := newTestCA(t, "test CA")
	cert, key := ca.issue(t, "backend", certOpts{names: []string{"backend.internal"}})
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s tls=%v sni=%s", r.Proto, r.URL.Path, r.TLS != nil, r.TLS.ServerName)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	src := fmt.Sprintf(`
listener "web" {
  address  = "127.0.0.1:0"
  upstream = "s"
}
upstream "s" {
  protocol = "https"
  endpoint %q {}
  tls {
    ca_file     = %q
    server_name = "backend.internal"
  }
}
`, ln.Addr().String(), ca.caFile(t))
	_, addr := startTLSGateway(t, src, Options{})
	resp, body := get(t, newClient(), "http://"+addr+"/over/tls")
	if resp.StatusCode != 200 || string(body) != "HTTP/1.1 /over/tls tls=true sni=backend.internal" {
		t.Fatalf("https upstream: %d %q", resp.StatusCode, body)
	}
}
