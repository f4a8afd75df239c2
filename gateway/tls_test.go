package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const httpsListener = `
listener "web" {
  address  = "127.0.0.1:0"
  protocol = "https"
  chain    = "c"
  upstream = "u"
  tls {
%s
  }
}
chain "c" {
  filter "facts" { module = "builtin:test-facts" }
}
`

func certBlock(name, cert, key string, extra string) string {
	return fmt.Sprintf("    certificate %q {\n      cert_file = %q\n      key_file = %q\n      %s\n    }\n", name, cert, key, extra)
}

func TestSNISelection(t *testing.T) {
	be := startEcho(t, "one")
	ca := newTestCA(t, "test CA")
	aC, aK := ca.issue(t, "a", certOpts{names: []string{"a.test"}, rsa: true, pkcs1: true})
	wC, wK := ca.issue(t, "w", certOpts{names: []string{"*.w.test"}})
	dC, dK := ca.issue(t, "d", certOpts{names: []string{"default.test"}, rsa: true})
	src := fmt.Sprintf(httpsListener, certBlock("a", aC, aK, "")+certBlock("w", wC, wK, "")+certBlock("d", dC, dK, "default = true")) +
		upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	_, addr := startTLSGateway(t, src, Options{NativeFilter: factsStages})

	tests := []struct {
		sni, want string
	}{
		{"a.test", "a.test"},
		{"A.Test", "a.test"},
		{"x.w.test", "*.w.test"},
		{"deep.x.w.test", "default.test"}, // a wildcard covers one label
		{"w.test", "default.test"},
		{"other.test", "default.test"},
		{"", "default.test"},
	}
	for _, tt := range tests {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tt.sni, InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("SNI %q: %v", tt.sni, err)
		}
		got := c.ConnectionState().PeerCertificates[0].DNSNames[0]
		c.Close()
		if got != tt.want {
			t.Errorf("SNI %q: served %q, want %q", tt.sni, got, tt.want)
		}
	}

	// 421 when the Host is not covered by the certificate the connection
	// was negotiated with; fine when it is.
	misdirected := []struct {
		sni, host string
		want      int
	}{
		{"a.test", "a.test", 200},
		{"a.test", "a.test:443", 200},
		{"a.test", "x.w.test", 421},
		{"x.w.test", "y.w.test", 200},
		{"x.w.test", "a.test", 421},
		{"", "anything.test", 200},
	}
	for _, tt := range misdirected {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tt.sni, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tt.host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("SNI %q Host %q: %d, want %d", tt.sni, tt.host, resp.StatusCode, tt.want)
		}
	}
}

// forceCert makes a client present cert even when the server's acceptable
// CAs do not include its issuer (Go's client would otherwise send none).
func forceCert(tc *tls.Config) *tls.Config {
	if len(tc.Certificates) == 1 {
		c := tc.Certificates[0]
		tc.Certificates = nil
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return tc
}

func TestMutualTLSModes(t *testing.T) {
	be := startEcho(t, "one")
	ca := newTestCA(t, "test CA")
	other := newTestCA(t, "other CA")
	sC, sK := ca.issue(t, "site", certOpts{names: []string{"localhost"}})
	gC, gK := ca.issue(t, "good", certOpts{client: true, cn: "alice"})
	bC, bK := other.issue(t, "bad", certOpts{client: true, cn: "mallory"})
	good, err := tls.LoadX509KeyPair(gC, gK)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := tls.LoadX509KeyPair(bC, bK)
	if err != nil {
		t.Fatal(err)
	}
	caFile := ca.caFile(t)

	// want: "" means the request fails; otherwise the x-facts-peer value.
	const none = "verified=false"
	tests := []struct {
		mode            string
		none, good, bad string
	}{
		{"require", "", "CN=alice,O=wasmgate tests verified=true", ""},
		{"verify_if_given", none, "CN=alice,O=wasmgate tests verified=true", ""},
		{"optional", none, "CN=alice,O=wasmgate tests verified=true", "CN=mallory,O=wasmgate tests verified=false"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			tlsBody := certBlock("site", sC, sK, "") + fmt.Sprintf("    client_ca_file = %q\n    client_auth = %q\n", caFile, tt.mode)
			src := fmt.Sprintf(httpsListener, tlsBody) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
			_, addr := startTLSGateway(t, src, Options{NativeFilter: factsStages})
			_, port, _ := net.SplitHostPort(addr)
			for _, c := range []struct {
				name  string
				certs []tls.Certificate
				want  string
			}{{"no cert", nil, tt.none}, {"good cert", []tls.Certificate{good}, tt.good}, {"bad cert", []tls.Certificate{bad}, tt.bad}} {
				for _, client := range []*http.Client{h1Client(forceCert(tlsClientConfig(ca, "localhost", c.certs...))), h2Client(forceCert(tlsClientConfig(ca, "localhost", c.certs...)))} {
					resp, err := client.Get("https://localhost:" + port + "/")
					if c.want == "" {
						if err == nil {
							resp.Body.Close()
							t.Errorf("%s: request succeeded, want a refused handshake", c.name)
						}
						continue
					}
					if err != nil {
						t.Errorf("%s: %v", c.name, err)
						continue
					}
					var b strings.Builder
					_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
					resp.Body.Close()
					rep := echoReply(t, []byte(b.String()))
					if got := strings.Join(rep.Headers["x-facts-peer"], ""); got != c.want {
						t.Errorf("%s (%s): peer %q, want %q", c.name, resp.Proto, got, c.want)
					}
				}
			}
		})
	}
}

func TestRedirectHTTPS(t *testing.T) {
	be := startEcho(t, "one")
	ca := newTestCA(t, "test CA")
	sC, sK := ca.issue(t, "site", certOpts{names: []string{"example.test"}})
	src := fmt.Sprintf(`
listener "web" {
  address        = "127.0.0.1:0"
  redirect_https = "secure"
  allow          = ["127.0.0.1"]
}
listener "secure" {
  address  = "127.0.0.1:0"
  protocol = "https"
  upstream = "u"
  tls {
%s
  }
}
`, certBlock("site", sC, sK, "")) + upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	gw, addr := startTLSGateway(t, src, Options{})
	_, sport, _ := net.SplitHostPort(gw.Addr("secure").String())
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct{ host, uri, want string }{
		{"example.test:8080", "/a/b?x=1&y=%20", "https://example.test:" + sport + "/a/b?x=1&y=%20"},
		{"example.test", "/", "https://example.test:" + sport + "/"},
		{"[::1]:8080", "/v6", "https://[::1]:" + sport + "/v6"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+tt.uri, nil)
		req.Host = tt.host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 301 || resp.Header.Get("Location") != tt.want {
			t.Errorf("Host %s %s: %d Location %q, want 301 %q", tt.host, tt.uri, resp.StatusCode, resp.Header.Get("Location"), tt.want)
		}
	}
}

func TestCertificateErrorsAreDiagnostics(t *testing.T) {
	ca := newTestCA(t, "test CA")
	c1, _ := ca.issue(t, "one", certOpts{names: []string{"one.test"}})
	_, k2 := ca.issue(t, "two", certOpts{names: []string{"two.test"}})
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`listener "web" {
  address  = "127.0.0.1:0"
  protocol = "https"
  tls {
    certificate "mismatch" {
      cert_file = %q
      key_file  = %q
    }
    certificate "garbage" {
      cert_file = %q
      key_file  = %q
    }
    client_ca_file = %q
  }
}
`, c1, k2, garbage, k2, garbage)
	cfg, msg := confParse(t, src, t.TempDir())
	if msg != "" {
		t.Fatal(msg)
	}
	diags := Check(context.Background(), cfg, Options{})
	var lines []int
	for _, d := range diags {
		if d.Subject == nil {
			t.Fatalf("diagnostic without a location: %s: %s", d.Summary, d.Detail)
		}
		lines = append(lines, d.Subject.Start.Line)
	}
	if fmt.Sprint(lines) != "[7 10 13]" {
		t.Fatalf("diagnostics at lines %v, want [7 10 13] (key_file, cert_file, client_ca_file): %v", lines, diags)
	}
	err := New(Options{}).Start(context.Background(), cfg)
	if ce, ok := err.(*ConfigError); !ok || len(ce.Diagnostics) != 3 {
		t.Fatalf("Start: %v, want a *ConfigError with 3 diagnostics", err)
	}
}
