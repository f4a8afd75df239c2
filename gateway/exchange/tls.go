package exchange

import "crypto/tls"

// TLS describes the TLS session a request arrived on, for filters, policies
// and access logs. A front end fills it once per connection after the
// handshake; it is immutable afterwards.
type TLS struct {
	// Version is the negotiated version, a crypto/tls VersionTLS constant.
	Version uint16
	// CipherSuite is the negotiated cipher suite's crypto/tls id.
	CipherSuite uint16
	// ServerName is the SNI the client sent, in lower case; "" if none.
	ServerName string
	// NegotiatedProtocol is the ALPN protocol: "h2", "http/1.1", "h3" or
	// "" when the client offered none.
	NegotiatedProtocol string

	// PeerSubject is the client certificate's subject as an RFC 2253
	// distinguished name; "" without a client certificate.
	PeerSubject string
	// PeerDNSNames, PeerURIs and PeerEmails are the client certificate's
	// subject alternative names.
	PeerDNSNames, PeerURIs, PeerEmails []string
	// PeerVerified reports whether the client certificate verified
	// against the listener's client CAs (Envoy's connection.mtls).
	PeerVerified bool
}

// VersionName returns the version as access logs spell it ("TLSv1.3").
func (t *TLS) VersionName() string {
	switch t.Version {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return ""
}

// CipherName returns the cipher suite's IANA name.
func (t *TLS) CipherName() string { return tls.CipherSuiteName(t.CipherSuite) }

// HasPeerCertificate reports whether the client presented a certificate.
func (t *TLS) HasPeerCertificate() bool { return t.PeerSubject != "" || t.PeerVerified }
