package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/internal/h1"
)

// ConfigError is a configuration that loads but cannot be built, such as a
// certificate that does not match its key. Its diagnostics point at the
// offending attributes.
type ConfigError struct {
	Diagnostics hcl.Diagnostics
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	for i, d := range e.Diagnostics {
		if i > 0 {
			b.WriteString("; ")
		}
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s: ", d.Subject)
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString(": ")
			b.WriteString(d.Detail)
		}
	}
	return b.String()
}

// certEntry is one loaded certificate and the names it serves.
type certEntry struct {
	cert  *tls.Certificate
	names []string // lower-case DNS SANs (or the CN when there are none)
}

// covers reports whether the certificate is valid for host (lower case,
// without port): an exact name or a one-label wildcard.
func (c *certEntry) covers(host string) bool {
	for _, n := range c.names {
		if n == host {
			return true
		}
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i+1:] == rest {
				return true
			}
		}
	}
	return false
}

// serverTLS is a listener's TLS material for one configuration: the
// certificates by name, the client CAs and the policy.
type serverTLS struct {
	certs    []*certEntry
	exact    map[string][]*certEntry
	wildcard map[string][]*certEntry // by the name without "*."
	dflt     *certEntry
	auth     string // conf.ClientAuth*
	caPool   *x509.CertPool
	config   *tls.Config
}

// loadServerTLS loads a listener's certificates and client CAs. Failures
// are diagnostics on the attributes that name the files.
func loadServerTLS(lc *conf.Listener) (*serverTLS, hcl.Diagnostics) {
	tc := lc.TLS
	st := &serverTLS{
		exact:    map[string][]*certEntry{},
		wildcard: map[string][]*certEntry{},
		auth:     tc.ClientAuth,
	}
	var diags hcl.Diagnostics
	fail := func(rng hcl.Range, summary, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng.Ptr(),
		})
	}
	for _, cc := range tc.Certificates {
		pair, err := tls.LoadX509KeyPair(cc.CertFile, cc.KeyFile)
		if err != nil {
			rng := cc.CertFileRange
			if strings.Contains(err.Error(), "private key") || strings.Contains(err.Error(), "key file") {
				rng = cc.KeyFileRange
			}
			fail(rng, "Invalid certificate",
				"The certificate %q of the listener %q cannot be loaded: %v.", cc.Name, lc.Name, err)
			continue
		}
		e := &certEntry{cert: &pair}
		leaf := pair.Leaf
		if leaf == nil {
			leaf, _ = x509.ParseCertificate(pair.Certificate[0])
		}
		if leaf != nil {
			for _, n := range leaf.DNSNames {
				e.names = append(e.names, strings.ToLower(n))
			}
			if len(e.names) == 0 && leaf.Subject.CommonName != "" {
				e.names = append(e.names, strings.ToLower(leaf.Subject.CommonName))
			}
		}
		for _, n := range e.names {
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				st.wildcard[rest] = append(st.wildcard[rest], e)
			} else {
				st.exact[n] = append(st.exact[n], e)
			}
		}
		st.certs = append(st.certs, e)
		if cc.Default {
			st.dflt = e
		}
	}
	if st.dflt == nil && len(st.certs) > 0 {
		st.dflt = st.certs[0]
	}
	if tc.ClientCAFile != "" {
		pem, err := os.ReadFile(tc.ClientCAFile)
		pool := x509.NewCertPool()
		switch {
		case err != nil:
			fail(tc.ClientCAFileRange, "Unreadable client CA file", "The client CA file cannot be read: %v.", err)
		case !pool.AppendCertsFromPEM(pem):
			fail(tc.ClientCAFileRange, "Invalid client CA file",
				"The client CA file of the listener %q holds no PEM certificate.", lc.Name)
		default:
			st.caPool = pool
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	st.config = st.newConfig(lc)
	return st, nil
}

// newConfig returns the tls.Config handshakes on the listener use while
// this configuration is current.
func (st *serverTLS) newConfig(lc *conf.Listener) *tls.Config {
	cfg := &tls.Config{
		MinVersion:     lc.TLS.MinVersion,
		CipherSuites:   lc.TLS.CipherSuites,
		GetCertificate: st.getCertificate,
		NextProtos:     []string{"http/1.1"},
	}
	if lc.HTTP2 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if st.caPool != nil {
		cfg.ClientCAs = st.caPool
		switch st.auth {
		case conf.ClientAuthRequire:
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		case conf.ClientAuthVerifyIfGiven:
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		case conf.ClientAuthOptional:
			// Verified by connInfo; a certificate that does not verify is
			// reported to the chain rather than refused.
			cfg.ClientAuth = tls.RequestClientCert
		}
	}
	return cfg
}

// selectCert returns the certificate for an SNI name: exact, then
// wildcard, then the default.
func (st *serverTLS) selectCert(hello *tls.ClientHelloInfo, name string) *certEntry {
	cands := st.exact[name]
	if len(cands) == 0 {
		if i := strings.IndexByte(name, '.'); i > 0 {
			cands = st.wildcard[name[i+1:]]
		}
	}
	if len(cands) == 0 {
		return st.dflt
	}
	if hello != nil && len(cands) > 1 {
		// An RSA and an ECDSA certificate for the same name: the one the
		// client supports.
		for _, c := range cands {
			if hello.SupportsCertificate(c.cert) == nil {
				return c
			}
		}
	}
	return cands[0]
}

func (st *serverTLS) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := st.selectCert(hello, strings.ToLower(hello.ServerName))
	if c == nil {
		return nil, errors.New("no certificate")
	}
	return c.cert, nil
}

// connTLS is what the request path knows about one TLS connection.
type connTLS struct {
	info exchange.TLS
	// cert is the certificate the handshake presented, for the 421 check.
	cert *certEntry
}

// newConnTLS describes a completed handshake.
func newConnTLS(st *serverTLS, cs *tls.ConnectionState) *connTLS {
	ct := &connTLS{info: exchange.TLS{
		Version:            cs.Version,
		CipherSuite:        cs.CipherSuite,
		ServerName:         strings.ToLower(cs.ServerName),
		NegotiatedProtocol: cs.NegotiatedProtocol,
	}}
	if st != nil {
		ct.cert = st.selectCert(nil, ct.info.ServerName)
	}
	if len(cs.PeerCertificates) == 0 {
		return ct
	}
	leaf := cs.PeerCertificates[0]
	ct.info.PeerSubject = leaf.Subject.String()
	ct.info.PeerDNSNames = leaf.DNSNames
	ct.info.PeerEmails = leaf.EmailAddresses
	for _, u := range leaf.URIs {
		ct.info.PeerURIs = append(ct.info.PeerURIs, u.String())
	}
	switch {
	case len(cs.VerifiedChains) > 0:
		ct.info.PeerVerified = true
	case st != nil && st.caPool != nil:
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: st.caPool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		ct.info.PeerVerified = err == nil
	}
	return ct
}

// misdirected reports whether a request for host (the Host header or
// :authority, possibly with a port) must be refused with 421 on this
// connection: the client named another server in SNI and the certificate
// it got does not cover host.
func (ct *connTLS) misdirected(host []byte) bool {
	sni := ct.info.ServerName
	if sni == "" || ct.cert == nil {
		return false
	}
	h := hostOnly(host)
	if len(h) == 0 || h1.EqualFold(h, sni) {
		return false
	}
	return !ct.cert.covers(strings.ToLower(string(h)))
}

// hostOnly strips the port from a Host value.
func hostOnly(host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		if i := indexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := indexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// upstreamTLS builds the client TLS configuration of an https or h2
// upstream; nil means system roots and the endpoint host as server name.
func upstreamTLS(uc *conf.Upstream) (*tls.Config, hcl.Diagnostics) {
	tc := uc.TLS
	if tc == nil {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: tc.ServerName, InsecureSkipVerify: tc.InsecureSkipVerify}
	var diags hcl.Diagnostics
	if tc.CAFile != "" {
		pem, err := os.ReadFile(tc.CAFile)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			reason := "it holds no PEM certificate"
			if err != nil {
				reason = err.Error()
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Invalid CA file",
				Detail:  fmt.Sprintf("The CA file of the upstream %q cannot be used: %s.", uc.Name, reason),
				Subject: tc.CAFileRange.Ptr(),
			})
		}
		cfg.RootCAs = pool
	}
	if tc.CertFile != "" && tc.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Invalid client certificate",
				Detail:  fmt.Sprintf("The client certificate of the upstream %q cannot be loaded: %v.", uc.Name, err),
				Subject: tc.CertFileRange.Ptr(),
			})
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, diags
}
