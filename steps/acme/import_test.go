package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/importtest"
	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/importer"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Certificates certbot keeps are imported with their names, key type and
// renewal interval; the written repo adopts them with no order; the keys
// never reach a file; one that is due for renewal is left alone; and
// after the adoption the runner renews a certificate through the CA when
// time makes it due.
func TestImportCertbot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	b := e.backend(nil)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const params = "authenticator = dns-route53\nserver = https://acme-v02.api.letsencrypt.org/directory\nkey_type = ecdsa\n"
	var keys [][]byte
	keys = append(keys, importtest.CertbotLineage(t, e.root, "example.com", []string{"example.com", "www.example.com", "*.apps.example.com"}, ec, 80*24*time.Hour,
		params+"renew_hook = systemctl reload nginx\n"+
			`deploy_hook = curl -fsS -X POST -H "Authorization: Bearer hc_SECRET_TOKEN_123" https://hooks.example.net/certs`+"\n"))
	keys = append(keys, importtest.CertbotLineage(t, e.root, "mail.example.com", []string{"mail.example.com"}, rsaKey, 90*24*time.Hour,
		"authenticator = webroot\nkey_type = rsa\nrsa_key_size = 2048\nserver = https://user:pa55word@acme.internal.example/directory?key=qs_SECRET#frag\n"))
	// renew_before_expiry set (not the commented default)
	keys = append(keys, importtest.CertbotLineage(t, e.root, "old.example.com", []string{"old.example.com"}, ec2, 10*24*time.Hour, params))
	conf := filepath.Join(e.root, "renewal", "mail.example.com.conf")
	b0, err := os.ReadFile(conf) //nolint:gosec // the test's file
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("renew_before_expiry = 20 days\n"+string(b0)), 0o600); err != nil {
		t.Fatal(err)
	}

	// old.example.com (due for renewal) left alone; renewal confs, two
	// hooks, a webroot authenticator, a server listed. The import's writes
	// are the orders it makes.
	read := importtest.Reader(t, importer.Source{Backend: b, Name: "acme", Where: []string{e.root}}, func() int { return int(e.orders.Load()) }, 2, 8)
	files := read()
	pipelinetest.FileHas(t, files, "certs.libsonnet",
		`local acme = import 'acme.libsonnet';`,
		`acme.certificate('example.com', ['example.com', '*.apps.example.com', 'www.example.com'], { adopt: true }),`,
		`acme.certificate('mail.example.com', ['mail.example.com'], { keyType: 'rsa2048', renewBefore: '20d', adopt: true }),`,
	)
	pipelinetest.FileHas(t, files, "IMPORT.md",
		"certbot certificate old.example.com (", "adopting it would plan a change (update: inside the renewal window (30 days before expiry)",
		"renewal/example.com.conf renew_hook | certbot runs the command set there (not shown here",
		"renewal/example.com.conf deploy_hook | certbot runs the command set there",
		"renewal/mail.example.com.conf server https://acme.internal.example/directory | certbot got it from https://acme.internal.example/directory;",
		"move renewal/example.com.conf out of renewal/",
		"renewal/mail.example.com.conf authenticator webroot",
	)
	for name, f := range files {
		// hook command lines and URLs' userinfo and query can hold credentials
		for _, secret := range []string{"hc_SECRET_TOKEN_123", "pa55word", "qs_SECRET", "systemctl reload nginx"} {
			if strings.Contains(f, secret) {
				t.Errorf("%s holds %q from a renewal conf", name, secret)
			}
		}
		for _, k := range keys {
			if strings.Contains(f, importtest.KeyBody(k)) {
				t.Errorf("%s holds a private key", name)
			}
		}
	}

	p := pipelinetest.New(t, steps.ExecOptions{Backoff: 1, MaxBackoff: 1}, b)
	p.In.Push("import certbot", files)
	orders := e.orders.Load()
	rep := p.Run()
	if rep.Result != pipeline.ResultOK || rep.Changed != 0 || rep.Counts["adopt"] != 2 {
		t.Fatalf("first deployment of the import: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if n := e.orders.Load() - orders; n != 0 {
		t.Errorf("adopting the import made %d orders", n)
	}
	pipelinetest.SameFiles(t, files, read())

	// 55 days on, example.com is inside its 30-day window: the runner
	// renews it through its CA, under the same names, into live/.
	b.now = func() time.Time { return time.Now().Add(55 * 24 * time.Hour) }
	p.In.Push("later", map[string]string{"README": "renewals"})
	rep = p.Run()
	if rep.Result != pipeline.ResultOK || rep.Changed != 1 {
		t.Fatalf("renewal run: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if n := e.orders.Load() - orders; n != 1 {
		t.Errorf("renewal made %d orders, want 1", n)
	}
	e.verify("example.com", "example.com", "*.apps.example.com", "www.example.com")
}
