package gateway

import (
	"crypto/tls"
	"testing"

	"github.com/wasmgate/wasmgate/gateway/exchange"
)

func TestTLSProperties(t *testing.T) {
	mtls := &exchange.TLS{Version: tls.VersionTLS13, ServerName: "api.example.com", PeerSubject: "CN=client", PeerDNSNames: []string{"client.example.com"}, PeerURIs: []string{"spiffe://x/y"}, PeerVerified: true}
	plain := (*exchange.TLS)(nil)
	tests := []struct {
		tls  *exchange.TLS
		name string
		want string
		ok   bool
	}{
		{mtls, "mtls", "\x01", true},
		{plain, "mtls", "\x00", true},
		{&exchange.TLS{Version: tls.VersionTLS12}, "mtls", "\x00", true},
		{mtls, "tls_version", "TLSv1.3", true},
		{plain, "tls_version", "", false},
		{mtls, "requested_server_name", "api.example.com", true},
		{mtls, "subject_peer_certificate", "CN=client", true},
		{&exchange.TLS{}, "subject_peer_certificate", "", false},
		{mtls, "dns_san_peer_certificate", "client.example.com", true},
		{mtls, "uri_san_peer_certificate", "spiffe://x/y", true},
		{mtls, "nope", "", false},
	}
	for _, tt := range tests {
		got, ok := tlsProperty(tt.tls, tt.name)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("connection.%s (tls=%v): %q %v, want %q %v", tt.name, tt.tls != nil, got, ok, tt.want, tt.ok)
		}
	}
}
