// Package localca is a throwaway certificate authority on loopback: it signs
// the server certificates of the lab's HTTPS simulators (runner lab) and of
// the client tests' HTTPS interceptor, so that clients verify the servers
// against the CA's certificate instead of turning verification off.
package localca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// CA is a self-signed ECDSA P-256 certificate authority.
type CA struct {
	// PEM is the CA certificate, PEM-encoded: what clients trust.
	PEM  []byte
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	life time.Duration
}

// New makes a CA whose certificate names commonName and is valid from an
// hour ago for life; the certificates it issues are valid as long.
func New(commonName string, life time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: commonName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(life), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("make CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert: cert, key: key, life: life}, nil
}

// Leaf is a server certificate the CA issued, with its private key.
type Leaf struct {
	CertPEM []byte // the certificate, PEM "CERTIFICATE"
	KeyPEM  []byte // the key, PEM "EC PRIVATE KEY" (SEC 1)
	TLS     tls.Certificate
}

// Issue makes a server certificate (ExtKeyUsage serverAuth) for the host
// names and IP addresses; the first name, else the first address, is its
// common name.
func (ca *CA) Issue(names []string, ips []net.IP) (*Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cn := ""
	switch {
	case len(names) > 0:
		cn = names[0]
	case len(ips) > 0:
		cn = ips[0].String()
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial.Add(serial, big.NewInt(2)), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(ca.life), DNSNames: names, IPAddresses: ips,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %v %v: %w", names, ips, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	l := &Leaf{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}
	l.TLS = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return l, nil
}
