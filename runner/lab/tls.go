package lab

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/localca"
)

// labTLS is a lab-local CA and a server certificate for 127.0.0.1 and
// localhost: the simulators serve HTTPS like the real services, and the
// runner verifies them against ca.pem (never with verification off).
type labTLS struct {
	caFile string
	cert   tls.Certificate
}

// loadOrMakeTLS reuses dir/ca.pem + dir/server.pem + dir/server-key.pem, or
// makes them.
func loadOrMakeTLS(dir string) (*labTLS, error) {
	caFile := filepath.Join(dir, "ca.pem")
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if c, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		if _, err := os.Stat(caFile); err == nil {
			return &labTLS{caFile: caFile, cert: c}, nil
		}
	}
	ca, err := localca.New("gitops-runner lab CA", 10*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Issue([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	if err != nil {
		return nil, err
	}
	if err := errors.Join(
		os.WriteFile(caFile, ca.PEM, 0o644),
		os.WriteFile(certFile, leaf.CertPEM, 0o644),
		os.WriteFile(keyFile, leaf.KeyPEM, 0o600),
	); err != nil {
		return nil, fmt.Errorf("write lab certificates: %w", err)
	}
	return &labTLS{caFile: caFile, cert: leaf.TLS}, nil
}
