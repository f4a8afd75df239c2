package conf

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// This file decodes what a listener or an upstream says about TLS and the
// HTTP versions it speaks.

func listenerTLSSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "client_ca_file"},
			{Name: "client_auth"},
			{Name: "min_version"},
			{Name: "cipher_suites"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "certificate", LabelNames: []string{"name"}}},
	}
}

func certificateSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "cert_file", Required: true},
		{Name: "key_file", Required: true},
		{Name: "default"},
	}}
}

func upstreamTLSSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "ca_file"},
		{Name: "server_name"},
		{Name: "insecure_skip_verify"},
		{Name: "cert_file"},
		{Name: "key_file"},
	}}
}

func listenerProtocols() []string { return []string{"http", "https"} }

func upstreamProtocols() []string { return []string{"http", "https", "h2", "h2c"} }

func quicModes() []string { return []string{QUICAuto, QUICOn, QUICOff} }

func clientAuthModes() []string {
	return []string{ClientAuthRequire, ClientAuthOptional, ClientAuthVerifyIfGiven}
}

func tlsVersions() map[string]uint16 {
	return map[string]uint16{"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}
}

// HTTP/2 defaults.
const (
	defaultH2Streams    = 250
	defaultH2StreamWin  = 1 << 20
	defaultH2ConnWindow = 4 << 20
)

// decodeListenerProtocols decodes protocol-dependent listener settings: the
// tls block, http2, http3, quic and redirect_https.
func (d *decoder) decodeListenerProtocols(s *source, a attrs, blocks hcl.Blocks, l *Listener, protoRange hcl.Range) {
	if l.Protocol == "" || !slices.Contains(listenerProtocols(), l.Protocol) {
		if l.Protocol != "" {
			d.errorf(protoRange, "Unknown protocol", "%q is not a protocol. Use \"http\" or \"https\".", l.Protocol)
		}
		l.Protocol = "http"
	}
	https := l.Protocol == "https"
	var tlsBlock *hcl.Block
	for _, b := range blocks {
		if tlsBlock != nil {
			d.errorf(b.DefRange, "Duplicate tls block",
				"A listener has at most one tls block; the first is at %s.", tlsBlock.DefRange)
			continue
		}
		tlsBlock = b
	}
	switch {
	case https && tlsBlock == nil:
		subject := l.DeclRange
		if protoRange != (hcl.Range{}) {
			subject = protoRange
		}
		d.errorf(subject, "Missing tls block",
			"The https listener %q needs a tls block with at least one certificate, for example: tls { certificate \"site\" { cert_file = \"site.pem\"  key_file = \"site.key\" } }", l.Name)
	case !https && tlsBlock != nil:
		d.errorf(tlsBlock.DefRange, "TLS settings on a plain listener",
			"The listener %q speaks plain http, so its tls block would never be used. Set protocol = \"https\" or remove the block.", l.Name)
	case https:
		l.TLS = d.decodeListenerTLS(s, tlsBlock)
	}

	l.HTTP2 = https
	a.boolRange("http2", &l.HTTP2)
	l.HTTP2MaxConcurrentStreams = defaultH2Streams
	l.HTTP2StreamWindow = defaultH2StreamWin
	l.HTTP2ConnectionWindow = defaultH2ConnWindow
	a.intRange("http2_max_concurrent_streams", 1, 1<<20, &l.HTTP2MaxConcurrentStreams)
	a.windowSize("http2_stream_window", &l.HTTP2StreamWindow)
	a.windowSize("http2_connection_window", &l.HTTP2ConnectionWindow)

	if rng, ok := a.boolRange("http3", &l.HTTP3); ok && l.HTTP3 && !https {
		d.errorf(rng, "HTTP/3 needs TLS",
			"HTTP/3 runs over QUIC, which always uses TLS: set protocol = \"https\" on the listener %q, or remove http3.", l.Name)
		l.HTTP3 = false
	}
	l.QUIC = QUICAuto
	a.oneOf("quic", "QUIC mode", quicModes(), &l.QUIC)
	if l.QUIC == QUICOn && !l.HTTP3 {
		d.errorf(a.m["quic"].Expr.Range(), "QUIC advertised but not served",
			"quic = \"on\" advertises HTTP/3 with Alt-Svc, but the listener %q does not serve it. Add http3 = true, or use \"auto\" or \"off\".", l.Name)
	}

	if rng, ok := a.str("redirect_https", &l.RedirectHTTPS); ok {
		if https {
			d.errorf(rng, "Redirect on an https listener",
				"redirect_https sends plain http clients to an https listener; the listener %q already speaks https.", l.Name)
			l.RedirectHTTPS = ""
		} else {
			d.redirects = append(d.redirects, reference{kind: "listener", name: l.RedirectHTTPS, rng: rng})
		}
	}
}

// boolRange reads a bool like boolean and returns the value's range and
// whether it was set.
func (a attrs) boolRange(name string, dst *bool) (hcl.Range, bool) {
	val, attr, ok := a.value(name, cty.Bool)
	if !ok {
		return hcl.Range{}, false
	}
	*dst = val.True()
	return attr.Expr.Range(), true
}

// windowSize reads an HTTP/2 flow-control window: a size up to 2^31-1.
func (a attrs) windowSize(name string, dst *int64) {
	v := *dst
	a.size(name, &v)
	if v > 1<<31-1 {
		a.d.errorf(a.m[name].Expr.Range(), "Value out of range",
			"The HTTP/2 window %q must be at most 2147483647 bytes (2GiB - 1).", name)
		return
	}
	*dst = v
}

func (d *decoder) decodeListenerTLS(s *source, b *hcl.Block) *ListenerTLS {
	t := &ListenerTLS{MinVersion: tls.VersionTLS12, DeclRange: b.DefRange}
	a, blocks := d.content(s, b.Body, listenerTLSSchema())

	names := map[string]hcl.Range{}
	var dflt *hcl.Range
	for _, cb := range blocks {
		first := d.declare(names, "certificate", cb)
		c := Certificate{Name: cb.Labels[0], DeclRange: cb.DefRange}
		ca, _ := d.content(s, cb.Body, certificateSchema())
		c.CertFile, c.CertFileRange = d.pemFile(s, ca, "cert_file", "certificate file")
		c.KeyFile, c.KeyFileRange = d.pemFile(s, ca, "key_file", "key file")
		if rng, ok := ca.boolRange("default", &c.Default); ok && c.Default {
			if dflt != nil {
				d.errorf(rng, "Duplicate default certificate",
					"Only one certificate can be the default; another one is at %s.", *dflt)
				c.Default = false
			} else {
				dflt = &cb.DefRange
			}
		}
		if first {
			t.Certificates = append(t.Certificates, c)
		}
	}
	if len(blocks) == 0 {
		d.errorf(b.DefRange, "Missing certificate",
			"The tls block declares no certificate. Add at least one: certificate \"site\" { cert_file = \"site.pem\"  key_file = \"site.key\" }")
	}

	if rng, ok := a.str("client_ca_file", &t.ClientCAFile); ok {
		t.ClientCAFileRange = rng
		path := s.path(t.ClientCAFile)
		if reason := checkReadable(path); reason != "" {
			d.errorf(rng, "Unreadable client CA file",
				"The client CA file %q cannot be read: %s. A relative path is resolved against the directory of the file that declares it.", t.ClientCAFile, reason)
		}
		t.ClientCAFile = path
		t.ClientAuth = ClientAuthRequire
	}
	var mode string
	if rng, ok := a.str("client_auth", &mode); ok {
		switch {
		case !slices.Contains(clientAuthModes(), mode):
			d.errorf(rng, "Unknown client auth mode",
				"%q is not a client auth mode. Use one of: %s.", mode, strings.Join(clientAuthModes(), ", "))
		case t.ClientCAFile == "":
			d.errorf(rng, "Client auth without client CAs",
				"client_auth = %q needs client_ca_file, the CAs that client certificates are verified against.", mode)
		default:
			t.ClientAuth = mode
		}
	}

	var ver string
	verRange, hasVer := a.str("min_version", &ver)
	if hasVer {
		if v, ok := tlsVersions()[ver]; ok {
			t.MinVersion = v
		} else {
			d.errorf(verRange, "Unknown TLS version",
				"%q is not a TLS version. Use one of: \"1.0\", \"1.1\", \"1.2\" (the default), \"1.3\".", ver)
		}
	}
	suites, ranges, attr := a.strs("cipher_suites")
	if attr != nil && t.MinVersion == tls.VersionTLS13 {
		d.errorf(attr.Expr.Range(), "Cipher suites with TLS 1.3 only",
			"cipher_suites configure TLS 1.2 and older; with min_version = \"1.3\" they would never be used (TLS 1.3 suites are not configurable).")
		return t
	}
	for i, name := range suites {
		id, ok := cipherSuiteID(name)
		if !ok {
			d.errorf(ranges[i], "Unknown cipher suite",
				"%q is not a secure cipher suite this build supports. Use names such as %q; see crypto/tls CipherSuites.", name, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
			continue
		}
		t.CipherSuites = append(t.CipherSuites, id)
	}
	return t
}

// pemFile reads a required file attribute and checks that it is readable;
// what names it in diagnostics ("certificate file").
func (d *decoder) pemFile(s *source, a attrs, name, what string) (string, hcl.Range) {
	var file string
	rng, ok := a.str(name, &file)
	if !ok {
		return "", rng
	}
	if file == "" {
		d.errorf(rng, "Missing "+what, "The %s must be the path of a PEM file.", what)
		return "", rng
	}
	path := s.path(file)
	if reason := checkReadable(path); reason != "" {
		d.errorf(rng, "Unreadable "+what,
			"The %s %q cannot be read: %s. A relative path is resolved against the directory of the file that declares it.", what, file, reason)
	}
	return path, rng
}

func cipherSuiteID(name string) (uint16, bool) {
	for _, cs := range tls.CipherSuites() {
		if cs.Name == name {
			return cs.ID, true
		}
	}
	return 0, false
}

// decodeUpstreamProtocol decodes an upstream's protocol and tls block.
func (d *decoder) decodeUpstreamProtocol(s *source, a attrs, blocks hcl.Blocks, u *Upstream) {
	u.Protocol = "http"
	a.oneOf("protocol", "protocol", upstreamProtocols(), &u.Protocol)
	var tlsBlock *hcl.Block
	for _, b := range blocks {
		if b.Type != "tls" {
			continue
		}
		if tlsBlock != nil {
			d.errorf(b.DefRange, "Duplicate tls block",
				"An upstream has at most one tls block; the first is at %s.", tlsBlock.DefRange)
			continue
		}
		tlsBlock = b
	}
	if tlsBlock == nil {
		return
	}
	if u.Protocol == "http" || u.Protocol == "h2c" {
		d.errorf(tlsBlock.DefRange, "TLS settings on a plain upstream",
			"The upstream %q speaks %q without TLS, so its tls block would never be used. Set protocol = \"https\" or \"h2\", or remove the block.", u.Name, u.Protocol)
		return
	}
	t := &UpstreamTLS{DeclRange: tlsBlock.DefRange}
	ta, _ := d.content(s, tlsBlock.Body, upstreamTLSSchema())
	if rng, ok := ta.str("ca_file", &t.CAFile); ok {
		t.CAFileRange = rng
		path := s.path(t.CAFile)
		if reason := checkReadable(path); reason != "" {
			d.errorf(rng, "Unreadable CA file",
				"The CA file %q cannot be read: %s. A relative path is resolved against the directory of the file that declares it.", t.CAFile, reason)
		}
		t.CAFile = path
	}
	if rng, ok := ta.str("server_name", &t.ServerName); ok && !validDNSName(t.ServerName) {
		d.errorf(rng, "Invalid server name", "%q is not a DNS name.", t.ServerName)
	}
	ta.boolRange("insecure_skip_verify", &t.InsecureSkipVerify)
	if ta.m["cert_file"] != nil || ta.m["key_file"] != nil {
		t.CertFile, t.CertFileRange = d.pemFile(s, ta, "cert_file", "certificate file")
		t.KeyFile, t.KeyFileRange = d.pemFile(s, ta, "key_file", "key file")
		if (ta.m["cert_file"] == nil) != (ta.m["key_file"] == nil) {
			d.errorf(tlsBlock.DefRange, "Incomplete client certificate",
				"A client certificate needs both cert_file and key_file.")
		}
	}
	u.TLS = t
}

// resolveRedirects checks that every redirect_https names an https listener.
func (d *decoder) resolveRedirects() {
	for _, r := range d.redirects {
		target := d.cfg.Listener(r.name)
		if target == nil {
			if _, declared := d.listeners[r.name]; declared {
				continue // declared but invalid: already reported
			}
			var https []string
			for _, l := range d.cfg.Listeners {
				if l.Protocol == "https" {
					https = append(https, l.Name)
				}
			}
			declared := "No https listeners are declared."
			if len(https) > 0 {
				declared = fmt.Sprintf("Declared https listeners: %s.", strings.Join(https, ", "))
			}
			d.errorf(r.rng, "Reference to undeclared listener",
				"No listener named %q is declared. %s", r.name, declared)
			continue
		}
		if target.Protocol != "https" {
			d.errorf(r.rng, "Redirect to a plain listener",
				"redirect_https must name an https listener; %q speaks %q.", r.name, target.Protocol)
		}
	}
}
