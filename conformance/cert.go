package conformance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Common names of the runner's certificates, as an expect block's
// server_certificate names them.
const (
	// CertDefault is the server certificate ${tls.cert_file}: 127.0.0.1,
	// ::1, localhost, example.com and *.example.com.
	CertDefault = "conformance"
	// CertAlt is the server certificate ${tls.alt_cert_file}: alt.test and
	// *.alt.test.
	CertAlt = "conformance-alt"
)

// certFiles are the runner's test PKI, written as PEM files: a CA that the
// client trusts, two server certificates it signed, a client certificate
// it signed (for mutual TLS) and a self-signed client certificate that no
// gateway trusts.
type certFiles struct {
	cert, key       string // CertDefault
	altCert, altKey string // CertAlt
	ca              string // the CA certificate, for client_ca_file
	pool            *x509.CertPool
	client          tls.Certificate // signed by the CA
	untrusted       tls.Certificate // self-signed
}

// writeCertificate creates the test PKI (ECDSA P-256, valid for a day) in
// dir.
func writeCertificate(dir string) (certFiles, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return certFiles{}, fmt.Errorf("generate key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "wasmgate conformance CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, caCert, err := sign(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return certFiles{}, err
	}
	cf := certFiles{
		cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"),
		altCert: filepath.Join(dir, "alt-cert.pem"), altKey: filepath.Join(dir, "alt-key.pem"),
		ca: filepath.Join(dir, "ca.pem"), pool: x509.NewCertPool(),
	}
	cf.pool.AddCert(caCert)
	if err := writePEM(cf.ca, "CERTIFICATE", caDER); err != nil {
		return certFiles{}, err
	}
	leaf := func(cn string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) *x509.Certificate {
		return &x509.Certificate{
			Subject:     pkix.Name{CommonName: cn},
			NotBefore:   now.Add(-time.Hour),
			NotAfter:    now.Add(24 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames:    dns,
			IPAddresses: ips,
		}
	}
	servers := []struct {
		tmpl      *x509.Certificate
		cert, key string
	}{
		{leaf(CertDefault, x509.ExtKeyUsageServerAuth, []string{"localhost", "example.com", "*.example.com"},
			[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}), cf.cert, cf.key},
		{leaf(CertAlt, x509.ExtKeyUsageServerAuth, []string{"alt.test", "*.alt.test"}, nil), cf.altCert, cf.altKey},
	}
	for _, s := range servers {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return certFiles{}, fmt.Errorf("generate key: %w", err)
		}
		der, _, err := sign(s.tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return certFiles{}, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return certFiles{}, fmt.Errorf("marshal key: %w", err)
		}
		if err := writePEM(s.cert, "CERTIFICATE", der); err != nil {
			return certFiles{}, err
		}
		if err := writePEM(s.key, "PRIVATE KEY", keyDER); err != nil {
			return certFiles{}, err
		}
	}
	// Client certificates live in memory only.
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return certFiles{}, fmt.Errorf("generate key: %w", err)
	}
	der, _, err := sign(leaf("conformance-client", x509.ExtKeyUsageClientAuth, nil, nil), caCert, &clientKey.PublicKey, caKey)
	if err != nil {
		return certFiles{}, err
	}
	cf.client = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: clientKey}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return certFiles{}, fmt.Errorf("generate key: %w", err)
	}
	selfTmpl := leaf("untrusted-client", x509.ExtKeyUsageClientAuth, nil, nil)
	der, _, err = sign(selfTmpl, selfTmpl, &otherKey.PublicKey, otherKey)
	if err != nil {
		return certFiles{}, err
	}
	cf.untrusted = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: otherKey}
	return cf, nil
}

// clientTLS is the client side's TLS configuration: it trusts the
// runner's CA and checks the server's chain, but not the name, so that a
// case can send any authority (and SNI) to a listener; which certificate
// the gateway chose is a case's expectation (server_certificate).
func (cf certFiles) clientTLS() *tls.Config {
	pool := cf.pool
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, //nolint:gosec // the chain is verified below, the name on purpose not
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
			if err != nil {
				return fmt.Errorf("server certificate: %w", err)
			}
			return nil
		},
	}
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("serial: %w", err)
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse certificate: %w", err)
	}
	return der, cert, nil
}

func writePEM(file, typ string, der []byte) error {
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(file), err)
	}
	return nil
}
