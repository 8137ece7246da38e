package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/internal/importtest"
	"github.com/gitops-runner/gitops-runner/runner/lab"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	ipasim "github.com/gitops-runner/gitops-runner/steps/freeipa/sim"
	pvesim "github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	r53sim "github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// importWorld is the three simulators over HTTP(S), a certificate root and
// a runner configuration for them: a homelab for `runner import`.
type importWorld struct {
	tb     testing.TB
	dir    string
	config string
	certs  string // backends.acme.certRoot, certbot's /etc/letsencrypt
	zoneID string
	pve    *pvesim.Server
	r53    *r53sim.Server
	ipa    *ipasim.Server
	ipaB   *freeipa.Backend // for seeding through the API, as the ipa CLI does
	repo   *gitrepotest.Repo
}

const importZone = "mydomain.com"

// newImportWorld starts the simulators, each call delayed by latency, with
// what a fresh install has (the Proxmox host with its templates, the empty
// zone, the two FreeIPA servers), and writes the runner configuration.
func newImportWorld(tb testing.TB, latency time.Duration) *importWorld {
	tb.Helper()
	w := &importWorld{tb: tb, dir: tb.TempDir(), repo: gitrepotest.New(tb)}
	w.certs = filepath.Join(w.dir, "letsencrypt")
	write := func(name string, b []byte) string {
		p := filepath.Join(w.dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	caPEM := func(ts *httptest.Server) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	}

	const pveToken, pveSecret = "runner@pve!gitops", "5f0e6a2c-1d2b-4c3d-9e8f-0a1b2c3d4e5f"
	var err error
	w.pve, err = pvesim.NewHomelab(pvesim.Options{Tokens: map[string]string{pveToken: pveSecret}, Latency: latency, TaskDuration: time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	pts := httptest.NewTLSServer(w.pve)
	tb.Cleanup(func() { pts.Close(); _ = w.pve.Close() })

	w.r53 = r53sim.New(r53sim.Options{Latency: latency})
	r53URL, err := w.r53.ListenHTTP("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = w.r53.Close() })
	if w.zoneID, err = w.r53.CreateZone(importZone); err != nil {
		tb.Fatal(err)
	}

	const ipaPassword = "Secret123-admin"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	iopts := ipasim.HomelabOptions(ipaPassword)
	iopts.Host, iopts.Latency = "127.0.0.1", latency
	if w.ipa, err = ipasim.New(iopts); err != nil {
		tb.Fatal(err)
	}
	if err := w.ipa.SeedHomelab(); err != nil {
		tb.Fatal(err)
	}
	its := &httptest.Server{Listener: ln, Config: &http.Server{Handler: w.ipa, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second}}
	its.StartTLS()
	tb.Cleanup(func() { its.Close(); _ = w.ipa.Close() })

	ipaCfg := map[string]any{"url": its.URL, "user": "admin", "password": map[string]string{"file": write("ipa.pw", []byte(ipaPassword+"\n"))},
		"caFile": write("ipa-ca.pem", caPEM(its)), "secretDir": filepath.Join(w.dir, "ipa-otp"), "domains": []string{ipasim.HomelabDomain}}
	cfg := map[string]any{
		"repos":    []map[string]string{{"path": w.repo.Bare}},
		"stateDir": filepath.Join(w.dir, "state"),
		"policy":   map[string]any{"zones": []string{importZone}},
		"backends": map[string]any{
			"proxmox": map[string]any{"url": pts.URL, "tokenId": pveToken, "tokenSecret": map[string]string{"file": write("pve.token", []byte(pveSecret))},
				"caFile": write("pve-ca.pem", caPEM(pts)), "pollInterval": "5ms"},
			"route53": map[string]any{"endpoint": r53URL, "region": "us-east-1", "zones": []string{importZone}, "pollInterval": "5ms",
				"accessKeyId":     map[string]string{"file": write("aws.id", []byte(r53sim.DefaultAccessKeyID))},
				"secretAccessKey": map[string]string{"file": write("aws.secret", []byte(r53sim.DefaultSecretAccessKey))}},
			// Adopting and planning a certificate the runner did not
			// obtain asks the CA nothing (no ARI for another CA's
			// certificate): no CA runs here, and none is called.
			"acme": map[string]any{"directory": "https://127.0.0.1:9/dir", "zones": []string{importZone}, "certRoot": w.certs,
				"stateDir": filepath.Join(w.dir, "state", "acme")},
			"freeipa": ipaCfg,
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	w.config = write("runner.jsonnet", b)
	raw, err := json.Marshal(ipaCfg)
	if err != nil {
		tb.Fatal(err)
	}
	if w.ipaB, err = freeipa.New(raw, &steps.Redactor{}); err != nil {
		tb.Fatal(err)
	}
	return w
}

// seedHandMade fills the simulators and the certificate root with the
// homelab of package importtest; it returns the certificates' private keys.
func (w *importWorld) seedHandMade() [][]byte {
	w.tb.Helper()
	importtest.SeedProxmox(w.tb, w.pve)
	if err := w.r53.UpsertRecords(w.zoneID, importtest.Route53Sets(w.zoneID)...); err != nil {
		w.tb.Fatal(err)
	}
	for _, h := range importtest.FreeIPAHosts {
		if err := w.ipa.AddHost(h, true); err != nil {
			w.tb.Fatal(err)
		}
	}
	for _, c := range importtest.FreeIPACalls() {
		if _, err := w.ipaB.Client().Call(w.tb.Context(), c.Method, c.Args, c.Opts); err != nil {
			w.tb.Fatalf("%s %v: %v", c.Method, c.Args, err)
		}
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		w.tb.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		w.tb.Fatal(err)
	}
	const params = "authenticator = dns-route53\nserver = https://acme-v02.api.letsencrypt.org/directory\nkey_type = ecdsa\n"
	return [][]byte{
		importtest.CertbotLineage(w.tb, w.certs, importZone, []string{importZone, "www." + importZone, "*.apps." + importZone}, ec, 80*24*time.Hour,
			params+"renew_hook = systemctl reload nginx\n"),
		importtest.CertbotLineage(w.tb, w.certs, "mail."+importZone, []string{"mail." + importZone}, rk, 60*24*time.Hour,
			"authenticator = dns-route53\nkey_type = rsa\nrsa_key_size = 2048\n"),
	}
}

// runner runs a runner command in process with the world's configuration.
func (w *importWorld) runner(args ...string) (int, string) {
	var out bytes.Buffer
	code := run(append([]string{"--config", w.config}, args...), strings.NewReader(""), &out, &out, nil)
	return code, out.String()
}

// importAll runs `runner import` of everything into a new directory and
// returns the files written by name.
func (w *importWorld) importAll(extra ...string) map[string]string {
	w.tb.Helper()
	out := filepath.Join(w.tb.TempDir(), "infra")
	args := append([]string{"import", "--proxmox", "--route53", importZone, "--freeipa", "--certs", w.certs, "-o", out}, extra...)
	if code, msg := w.runner(args...); code != 0 {
		w.tb.Fatalf("runner import: exit %d\n%s", code, msg)
	}
	files := map[string]string{}
	ents, err := os.ReadDir(out)
	if err != nil {
		w.tb.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(out, e.Name())) //nolint:gosec // the test's directory
		if err != nil {
			w.tb.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

// writes are the write calls the simulators counted since their reset.
func (w *importWorld) writes() map[string]int {
	return map[string]int{"proxmox": w.pve.Counters().Writes, "route53": w.r53.Counters().Writes, "freeipa": w.ipa.Counters().Writes}
}

func (w *importWorld) resetCounters() {
	w.pve.ResetCounters()
	w.r53.ResetCounters()
	w.ipa.ResetCounters()
}

// The done-when: a homelab the runner did not create — guests with
// options set by hand, an LXC with several mount points, VMs from the
// cloud-init template; TXT with long values, a wildcard, an alias, MX,
// CAA; FreeIPA hosts, host groups with members, services, users, groups,
// a sudo rule; certbot's live/ and renewal/ files — is imported with
// `runner import`, committed, planned (0 changes), applied (everything
// adopted, 0 write calls on every simulator, the certificate files as they
// were), and imported again byte for byte.
func TestImportHomelabPlansZeroChanges(t *testing.T) {
	w := newImportWorld(t, 0)
	keys := w.seedHandMade()
	w.resetCounters()
	files := w.importAll()
	if n := w.writes(); n["proxmox"]+n["route53"]+n["freeipa"] != 0 {
		t.Errorf("import made write calls: %v", n)
	}
	for _, f := range []string{"main.jsonnet", "guests.libsonnet", "dns.libsonnet", "identity.libsonnet", "certs.libsonnet", "IMPORT.md"} {
		if files[f] == "" {
			t.Errorf("import wrote no %s (wrote %d files)", f, len(files))
		}
	}
	for name, f := range files {
		if strings.Contains(f, importtest.CIPassword) {
			t.Errorf("%s holds the VM's cipassword", name)
		}
		for _, k := range keys {
			if strings.Contains(f, importtest.KeyBody(k)) {
				t.Errorf("%s holds a private key", name)
			}
		}
	}
	// The FreeIPA host of the gitlab VM is ordered after it.
	if !strings.Contains(files["identity.libsonnet"], `ipa.host('gitlab.hetzner.int.mydomain', { dependsOn: ['proxmox.vm/gitlab'], adopt: true }),`) {
		t.Errorf("identity.libsonnet: the gitlab host does not depend on its VM:\n%s", files["identity.libsonnet"])
	}
	if !strings.Contains(files["main.jsonnet"], "import 'certs.libsonnet',") {
		t.Errorf("main.jsonnet imports no certs.libsonnet:\n%s", files["main.jsonnet"])
	}
	certBefore, err := os.Readlink(filepath.Join(w.certs, "live", importZone, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}

	w.repo.Push("runner import", files)
	code, out := w.runner("plan", "--repo", w.repo.Bare)
	if code != 0 || !strings.Contains(out, ": 0 to change, 29 to adopt") {
		t.Fatalf("plan of the import: exit %d, want 0 to change\n%s", code, out)
	}
	code, out = w.runner("apply", "--repo", w.repo.Bare)
	if code != 0 {
		t.Fatalf("apply of the import: exit %d\n%s", code, out)
	}
	if n := w.writes(); n["proxmox"]+n["route53"]+n["freeipa"] != 0 {
		t.Errorf("adopting the import made write calls: %v", n)
	}
	status := w.repo.Git(w.repo.Bare, "log", "-1", "--format=%s", "status")
	if !strings.Contains(status, ": ok, 0 changed") {
		t.Errorf("status commit %q, want ok, 0 changed", status)
	}
	inv := w.repo.Git(w.repo.Bare, "show", "status:inventory.json")
	// 4 guests, 12 record sets, 11 FreeIPA objects, 2 certificates
	if n := strings.Count(inv, `"adopted": true`); n != 29 {
		t.Errorf("inventory holds %d adopted resources, want 29:\n%s", n, inv)
	}
	if after, err := os.Readlink(filepath.Join(w.certs, "live", importZone, "cert.pem")); err != nil || after != certBefore {
		t.Errorf("live/%s/cert.pem changed: %q → %q (%v)", importZone, certBefore, after, err)
	}
	code, out = w.runner("plan", "--repo", w.repo.Bare)
	if code != 0 || !strings.Contains(out, ": 0 to change") || strings.Contains(out, "to adopt") {
		t.Fatalf("plan after the adoption: exit %d, want 0 to change and nothing to adopt\n%s", code, out)
	}

	again := w.importAll()
	for name, b := range files {
		if again[name] != b {
			t.Errorf("a second import wrote %s differently:\n%s\n---\n%s", name, b, again[name])
		}
	}
	if len(again) != len(files) {
		t.Errorf("a second import wrote %d files, the first %d", len(again), len(files))
	}
}

// deployedLab starts `runner lab` in a new directory and deploys the
// reference homelab; run runs a runner command with the lab's
// configuration. The lab is closed with the test.
func deployedLab(tb testing.TB) (l *lab.Lab, run func(args ...string) (int, string)) {
	tb.Helper()
	l = startLab(tb, "")
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Error(err)
		}
	})
	run = func(args ...string) (int, string) {
		var out bytes.Buffer
		code := runCommand(append([]string{"--config", l.Config}, args...), &out)
		return code, out.String()
	}
	if code, out := run("apply", "--repo", l.Repo); code != 0 {
		tb.Fatalf("deploy the lab: exit %d\n%s", code, out)
	}
	return l, run
}

// runCommand is the runner's main with args, no input, out for both outputs.
func runCommand(args []string, out io.Writer) int {
	return run(args, strings.NewReader(""), out, out, nil)
}

// The lab round trip: the reference homelab the lab deploys is imported
// from the lab's simulators and certificate root into a fresh repo, which
// plans 0 changes and adopts everything (README, "Moving an existing
// homelab in").
func TestImportLabRoundTrip(t *testing.T) {
	l, runner := deployedLab(t)
	dir := filepath.Join(t.TempDir(), "infra")
	code, out := runner("import", "--proxmox", "--route53", "mydomain.com", "--freeipa", "--certs", filepath.Join(l.Dir, "certs"), "-o", dir)
	if code != 0 {
		t.Fatalf("runner import: exit %d\n%s", code, out)
	}
	files := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name())) //nolint:gosec // the test's directory
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	// Each FreeIPA host of a guest is ordered after it, as the lab's own
	// identity.libsonnet writes it.
	if !strings.Contains(files["identity.libsonnet"], "dependsOn: ['proxmox.lxc/nextcloud']") {
		t.Errorf("identity.libsonnet: nextcloud's host does not depend on its guest:\n%s", files["identity.libsonnet"])
	}
	fresh := gitrepotest.New(t)
	fresh.Push("runner import of the lab", files)
	code, out = runner("plan", "--repo", fresh.Bare)
	// 14 guests (two clusters), 10 record sets, 24 FreeIPA objects, 9
	// certificates, as the README says
	if code != 0 || !strings.Contains(out, ": 0 to change, 57 to adopt") {
		t.Fatalf("plan of the lab's import: exit %d, want 0 to change, 57 to adopt\n%s\n%s", code, out, files["IMPORT.md"])
	}
	orders := l.Orders()
	if code, out = runner("apply", "--repo", fresh.Bare); code != 0 {
		t.Fatalf("apply of the lab's import: exit %d\n%s", code, out)
	}
	if st := fresh.Git(fresh.Bare, "log", "-1", "--format=%s", "status"); !strings.Contains(st, ": ok, 0 changed") {
		t.Errorf("status commit %q, want ok, 0 changed", st)
	}
	if n := l.Orders() - orders; n != 0 {
		t.Errorf("adopting the lab's certificates made %d orders", n)
	}
}
