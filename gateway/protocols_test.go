package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/chain"
	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// factsStage reports what the chain sees about the protocol and TLS as
// request headers (the echo backend shows them) and tags the response.
type factsStage struct{}

func (factsStage) OnRequest(_ context.Context, x *exchange.Exchange) (chain.Action, error) {
	r := &x.Request
	r.Header.Set("x-facts-proto", r.Protocol.String())
	r.Header.Set("x-facts-scheme", string(r.Scheme))
	if t := x.TLS; t != nil {
		r.Header.Set("x-facts-tls", t.VersionName()+" "+t.ServerName)
		r.Header.Set("x-facts-peer", fmt.Sprintf("%s verified=%v", t.PeerSubject, t.PeerVerified))
	}
	return chain.Continue, nil
}

func (factsStage) OnResponse(_ context.Context, x *exchange.Exchange) error {
	x.Response.Header.Add("x-facts-resp", x.Request.Protocol.String())
	return nil
}

func (factsStage) Done(*exchange.Exchange) {}

func factsStages(sc *conf.Stage) (chain.Filter, error) {
	if sc.Module == "builtin:test-facts" {
		return factsStage{}, nil
	}
	return nativeStages(sc)
}

// protoClient is an HTTP client speaking exactly one protocol.
type protoClient struct {
	name string
	c    *http.Client
}

func tlsClientConfig(ca *testCA, serverName string, certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: ca.pool, ServerName: serverName, Certificates: certs}
}

func h1Client(tc *tls.Config) *http.Client {
	var p http.Protocols
	p.SetHTTP1(true)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Protocols: &p, DisableCompression: true}}
}

func h2Client(tc *tls.Config) *http.Client {
	var p http.Protocols
	p.SetHTTP2(true)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Protocols: &p, DisableCompression: true}}
}

func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Protocols: &p, DisableCompression: true}}
}

func h3Client(t *testing.T, tc *tls.Config) *http.Client {
	tr := &http3.Transport{TLSClientConfig: tc}
	t.Cleanup(func() { _ = tr.Close() })
	return &http.Client{Timeout: 20 * time.Second, Transport: tr}
}

// startTLSGateway serves src, in which CERT, KEY and CA stand for the
// paths of a server certificate for localhost and the CA, and returns the
// "web" listener's address.
func startTLSGateway(t *testing.T, src string, opts Options, repl ...string) (*Gateway, string) {
	t.Helper()
	src = strings.NewReplacer(repl...).Replace(src)
	cfg, msg := confParse(t, src, t.TempDir())
	if msg != "" {
		t.Fatalf("config:\n%s", msg)
	}
	gw := New(opts)
	if err := gw.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return gw, gw.Addr("web").String()
}

func TestSameChainOnH1H2H3(t *testing.T) {
	be := startEcho(t, "one")
	ca := newTestCA(t, "test CA")
	cert, key := ca.issue(t, "site", certOpts{names: []string{"localhost", "127.0.0.1"}, rsa: true, pkcs1: true})
	src := `
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "https"
  http3    = true
  chain    = "c"
  upstream = "u"
  tls {
    certificate "site" {
      cert_file = "CERT"
      key_file  = "KEY"
    }
  }
}
chain "c" {
  filter "facts" { module = "builtin:test-facts" }
}
` + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, addr := startTLSGateway(t, src, Options{NativeFilter: factsStages}, "CERT", cert, "KEY", key)
	_, port, _ := net.SplitHostPort(addr)
	base := "https://localhost:" + port
	tc := tlsClientConfig(ca, "localhost")

	clients := []protoClient{
		{"HTTP/1.1", h1Client(tc.Clone())},
		{"HTTP/2", h2Client(tc.Clone())},
		{"HTTP/3", h3Client(t, tc.Clone())},
	}
	type result struct {
		status                  int
		method, path, host, xfp string
		test, scheme, tlsv      string
		bodyBytes               int64
		streamLen               int
	}
	var want *result
	for _, pc := range clients {
		t.Run(pc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+"/echo/path?q=1&r=2", strings.NewReader("hello, world"))
			req.Header.Set("X-Test", "same")
			resp, err := pc.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSuffix(resp.Proto, ".0") != pc.name {
				t.Fatalf("client spoke %s, want %s", resp.Proto, pc.name)
			}
			rep := echoReply(t, body)
			h := func(k string) string { return strings.Join(rep.Headers[k], ",") }
			if got := h("x-facts-proto"); got != pc.name {
				t.Fatalf("exchange protocol %q, want %q", got, pc.name)
			}
			if got := resp.Header.Get("X-Facts-Resp"); got != pc.name {
				t.Fatalf("response stage saw %q", got)
			}
			altSvc := resp.Header.Get("Alt-Svc")
			if pc.name == "HTTP/3" && altSvc != "" || pc.name != "HTTP/3" && altSvc != `h3=":`+port+`"; ma=86400` {
				t.Fatalf("Alt-Svc on %s: %q", pc.name, altSvc)
			}

			// A streamed body (larger than the buffered limit) arrives whole.
			sreq, _ := http.NewRequest(http.MethodGet, base+"/big", nil)
			sreq.Header.Set("X-Echo-Size", "300000")
			sreq.Header.Set("X-Echo-Chunked", "1")
			sresp, err := pc.c.Do(sreq)
			if err != nil {
				t.Fatal(err)
			}
			sbody, _ := io.ReadAll(sresp.Body)
			sresp.Body.Close()

			got := &result{
				status: resp.StatusCode, method: rep.Method, path: rep.Path, host: rep.Host,
				xfp: h("x-forwarded-proto"), test: h("x-test"), scheme: h("x-facts-scheme"),
				tlsv: h("x-facts-tls"), bodyBytes: rep.BodyBytes, streamLen: len(sbody),
			}
			if want == nil {
				want = got
				if got.xfp != "https" || got.scheme != "https" || got.tlsv != "TLSv1.3 localhost" || got.bodyBytes != 12 ||
					got.path != "/echo/path?q=1&r=2" || got.streamLen != 300000 || got.host != "localhost:"+port {
					t.Fatalf("h1 result: %+v", got)
				}
				return
			}
			if *got != *want {
				t.Fatalf("%s differs from HTTP/1.1:\n got %+v\nwant %+v", pc.name, got, want)
			}
		})
	}
}

func TestH2CPriorKnowledge(t *testing.T) {
	be := startEcho(t, "one")
	src := `
listener "web" {
  address  = "127.0.0.1:0"
  http2    = true
  chain    = "c"
  upstream = "u"
}
chain "c" {
  filter "facts" { module = "builtin:test-facts" }
}
` + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, addr := startTLSGateway(t, src, Options{NativeFilter: factsStages})
	for _, pc := range []protoClient{{"HTTP/2.0", h2cClient()}, {"HTTP/1.1", newClient()}} {
		resp, body := get(t, pc.c, "http://"+addr+"/x?y=1")
		if resp.Proto != pc.name {
			t.Fatalf("client spoke %s, want %s", resp.Proto, pc.name)
		}
		rep := echoReply(t, body)
		want := strings.Replace(strings.TrimSuffix(pc.name, ".0"), "HTTP/2", "HTTP/2", 1)
		if got := strings.Join(rep.Headers["x-facts-proto"], ""); got != want {
			t.Fatalf("exchange protocol %q, want %q", got, want)
		}
		if xfp := strings.Join(rep.Headers["x-forwarded-proto"], ""); xfp != "http" || rep.Path != "/x?y=1" {
			t.Fatalf("%s: xfp %q path %q", pc.name, xfp, rep.Path)
		}
	}
	// A short HTTP/1.0 request (shorter than the h2 preface) is not held
	// waiting for more bytes.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.") {
		t.Fatalf("short HTTP/1.0 request: %q", firstLine(b))
	}
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
