package clienttest

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
	r53sim "github.com/gitops-runner/gitops-runner/steps/route53/sim"
	r53simtest "github.com/gitops-runner/gitops-runner/steps/route53/sim/simtest"
)

// TestCertbotDNSRoute53 is what the homelab runs today: certbot with the
// dns-route53 plugin (boto3) obtains a certificate for a name and its
// wildcard from Pebble, writing the DNS-01 TXT records through the Route 53
// simulator, whose DNS server Pebble queries. boto3 1.26 (bookworm) has no
// endpoint setting, so it reaches the simulator as route53.amazonaws.com
// through HTTPS_PROXY (see interceptor).
func TestCertbotDNSRoute53(t *testing.T) {
	t.Parallel()
	certbot := testenv.Program(t, "certbot", "certbot")
	needPython(t, "certbot_dns_route53", "python3-certbot-dns-route53")

	s := r53simtest.Start(t, r53sim.Options{})
	dnsAddr := r53simtest.Listen(t, s.ListenDNS)
	zoneID := r53simtest.Zone(t, s, "example.com")
	r53simtest.Zone(t, s, "other.example.org") // a zone the plugin must pass over
	ix := newInterceptor(t, map[string]http.Handler{"route53.amazonaws.com:443": s})

	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "clienttest"}})
	w := wfe.New(logger, store, va.New(logger, 0, 0, false, dnsAddr, store), authority, nil, false, false, 0, 0)
	acme := httptest.NewTLSServer(w.Handler())
	t.Cleanup(acme.Close)

	dir := t.TempDir()
	// One bundle for both: certbot's requests (Pebble) and botocore (the interceptor).
	bundle := filepath.Join(dir, "ca-bundle.pem")
	pebbleTLS := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: acme.Certificate().Raw})
	if err := os.WriteFile(bundle, append(pebbleTLS, ix.CAPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(awsEnv(dir),
		"AWS_CA_BUNDLE="+bundle,
		"REQUESTS_CA_BUNDLE="+bundle,
		"HTTPS_PROXY="+ix.URL,
		"NO_PROXY=127.0.0.1,localhost",
	)
	r := run(t, env, "", certbot, "certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
		"--server", acme.URL+"/dir", "--dns-route53",
		"--config-dir", filepath.Join(dir, "config"), "--work-dir", filepath.Join(dir, "work"), "--logs-dir", filepath.Join(dir, "logs"),
		"-d", "example.com", "-d", "*.example.com")
	if r.code != 0 {
		logText, _ := os.ReadFile(filepath.Join(dir, "logs", "letsencrypt.log"))
		t.Fatalf("certbot: exit %d\n%s%s\nletsencrypt.log:\n%s\ndenied by the interceptor: %v", r.code, r.stdout, r.stderr, logText, ix.Denied())
	}

	pemBytes, err := os.ReadFile(filepath.Join(dir, "config", "live", "example.com", "fullchain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatalf("fullchain.pem holds no PEM block:\n%s", pemBytes)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	names := slices.Sorted(slices.Values(cert.DNSNames))
	if !slices.Equal(names, []string{"*.example.com", "example.com"}) {
		t.Errorf("certificate names %v, want example.com and *.example.com", names)
	}

	// Both challenges share _acme-challenge.example.com: the plugin UPSERTs
	// the set with one value, then two; cleanup shrinks it, then DELETEs it.
	if n := s.Count(r53sim.OpChangeResourceRecordSets); n != 4 {
		t.Errorf("%d ChangeResourceRecordSets calls, want 4 (UPSERT ×2, UPSERT + DELETE in cleanup)", n)
	}
	if n := s.Count(r53sim.OpGetChange); n < 2 {
		t.Errorf("%d GetChange calls, want one per change at least (2)", n)
	}
	sets, err := s.Records(zoneID)
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range sets {
		if strings.HasPrefix(rs.Name, "_acme-challenge.") {
			t.Errorf("%s %s left behind after cleanup", rs.Name, rs.Type)
		}
	}
	if d := ix.Denied(); len(d) > 0 {
		t.Errorf("requests refused by the interceptor: %v", d)
	}
}
