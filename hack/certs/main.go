// Command certs writes demo certificates for wasmgate's quickstart and
// scripts: a CA, a server certificate and a client certificate, all ECDSA
// P-256, valid for 30 days. Never use them in production.
//
//	go run ./hack/certs [-out certs] [-names localhost,127.0.0.1,::1]
//
// It writes ca.pem, ca.key, server.pem (leaf and CA: a full chain),
// server.key (PKCS#8), client.pem and client.key into -out.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	out := flag.String("out", "certs", "output directory")
	names := flag.String("names", "localhost,*.localhost,127.0.0.1,::1", "server certificate names (DNS names and IP addresses), comma separated")
	flag.Parse()
	if err := run(*out, strings.Split(*names, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "certs:", err)
		os.Exit(1)
	}
}

func run(out string, names []string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "wasmgate demo CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := write(out, "ca.pem", caPEM); err != nil {
		return err
	}
	if err := writeKey(out, "ca.key", caKey); err != nil {
		return err
	}

	server := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(strings.TrimSpace(n)); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else if n = strings.TrimSpace(n); n != "" {
			server.DNSNames = append(server.DNSNames, n)
		}
	}
	if err := leaf(out, "server", server, ca, caKey, caPEM, now); err != nil {
		return err
	}
	client := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "demo-client", Organization: []string{"wasmgate demo"}},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if err := leaf(out, "client", client, ca, caKey, caPEM, now); err != nil {
		return err
	}
	fmt.Printf("wrote ca, server (%s) and client certificates to %s\n", strings.Join(names, ", "), out)
	return nil
}

func leaf(out, name string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey, caPEM []byte, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(30 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return err
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), caPEM...)
	if err := write(out, name+".pem", chain); err != nil {
		return err
	}
	return writeKey(out, name+".key", key)
}

func writeKey(out, name string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return write(out, name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func write(out, name string, data []byte) error {
	mode := os.FileMode(0o644)
	if strings.HasSuffix(name, ".key") {
		mode = 0o600
	}
	if err := os.WriteFile(filepath.Join(out, name), data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
