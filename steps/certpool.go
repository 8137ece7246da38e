package steps

import (
	"crypto/x509"
	"fmt"
	"os"
)

// CertPool reads the PEM file path (a CA certificate or a bundle, as a
// backend config's caFile names it) into a pool of roots for
// tls.Config.RootCAs. It fails if the file cannot be read or holds no PEM
// certificate.
func CertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
