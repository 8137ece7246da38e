// Package tlstest writes the certificates tests trust to files, the way
// clients are configured in production (a backend's caFile, curl --cacert,
// REQUESTS_CA_BUNDLE): a test verifies its HTTPS servers instead of
// turning verification off.
package tlstest

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// CAFile writes the DER certificate der, PEM-encoded, to a new file (mode
// 0600) in a temporary directory of the test and returns its path. A
// failed write fails the test. For an httptest TLS server:
// CAFile(tb, srv.Certificate().Raw).
func CAFile(tb testing.TB, der []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}
