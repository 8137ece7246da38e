package monitor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

const inventory = `{"schema":"gitops-runner/inventory/v1","resources":[
 {"id":"acme.certificate/web","spec":{"domains":["cloud.mydomain.com"],"deploy":{}}},
 {"id":"acme.certificate/mail","spec":{"domains":["mail.mydomain.com"],"deploy":{"dir":"custom/mail"}}},
 {"id":"acme.certificate/gone","spec":{"domains":["gone.mydomain.com"]}},
 {"id":"proxmox.lxc/web","spec":{"vmid":101}}]}`

func writeCert(t *testing.T, path string, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRead: the last deployment that ran (superseded pushes do not count),
// drift recorded after it (the newest count, since the first record), and
// the certificates the inventory lists, read from their deploy directories.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	g, err := gitstore.Open(gitrepotest.New(t).Bare)
	if err != nil {
		t.Fatal(err)
	}
	certRoot := filepath.Join(dir, "letsencrypt")
	now := time.Now().UTC().Truncate(time.Second)
	writeCert(t, filepath.Join(certRoot, "live", "web", "cert.pem"), now.Add(60*24*time.Hour))
	writeCert(t, filepath.Join(certRoot, "custom", "mail", "cert.pem"), now.Add(10*24*time.Hour))
	record := func(kind pipeline.RunKind, result pipeline.Result, at time.Time, changes int) {
		t.Helper()
		rep := &pipeline.Report{Schema: pipeline.StatusSchema, Kind: kind, Result: result, Summary: string(kind) + ": " + string(result), Finished: at}
		for range changes {
			rep.Plan = append(rep.Plan, pipeline.PlanEntry{ID: "test.thing/a", Action: steps.Update})
		}
		if _, err := g.AppendStatus("status", map[string][]byte{"status.json": rep.JSON(), "inventory.json": []byte(inventory)}, rep.Summary, at); err != nil {
			t.Fatal(err)
		}
	}
	src := Source{Name: "infra", Repo: g, StatusBranch: "status", CertRoot: certRoot}

	st, err := Read(src)
	if err != nil || st.LastDeploy != nil || st.Drift != nil || st.Certs != nil {
		t.Fatalf("no history: %+v, %v", st, err)
	}

	record(pipeline.KindDeploy, pipeline.ResultOK, now.Add(-3*time.Hour), 1)
	record(pipeline.KindDrift, pipeline.ResultPlanned, now.Add(-2*time.Hour), 2)
	record(pipeline.KindDeploy, pipeline.ResultSuperseded, now.Add(-90*time.Minute), 0)
	record(pipeline.KindDrift, pipeline.ResultPlanned, now.Add(-time.Hour), 1)
	st, err = Read(src)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastDeploy == nil || st.LastDeploy.Result != pipeline.ResultOK || !st.LastDeploy.Finished.Equal(now.Add(-3*time.Hour)) {
		t.Errorf("last deployment %+v, want the ok one 3h ago", st.LastDeploy)
	}
	if st.Drift == nil || st.Drift.Resources != 1 || !st.Drift.Since.Equal(now.Add(-2*time.Hour)) {
		t.Errorf("drift %+v, want 1 resource since 2h ago", st.Drift)
	}
	if len(st.Certs) != 3 {
		t.Fatalf("%d certificates, want the inventory's 3: %+v", len(st.Certs), st.Certs)
	}
	got := map[string]Cert{}
	for _, c := range st.Certs {
		got[c.Name] = c
	}
	if c := got["web"]; c.Err != nil || !c.NotAfter.Equal(now.Add(60*24*time.Hour)) {
		t.Errorf("web: %+v", c)
	}
	if c := got["mail"]; c.Err != nil || c.Path != filepath.Join(certRoot, "custom", "mail", "cert.pem") {
		t.Errorf("mail: %+v", c)
	}
	if c := got["gone"]; c.Err == nil || !strings.Contains(c.Err.Error(), "is missing") {
		t.Errorf("gone: %+v, want a missing-file error", c)
	}
	res := Check([]*State{st}, DefaultThresholds, now)
	if res.Status != Critical || !strings.Contains(res.Output(), "certificate mail expires in 10 days") {
		t.Errorf("check: %s\n%s", res.Status, res.Output())
	}

	// A self-heal pass applied part of the drift and held one change back:
	// that is the drift now; a pass that held nothing back ends it.
	heal := func(at time.Time, heldBack int) {
		t.Helper()
		rep := &pipeline.Report{Schema: pipeline.StatusSchema, Kind: pipeline.KindHeal, Result: pipeline.ResultOK, Summary: "self-heal: ok", Finished: at,
			Plan: []pipeline.PlanEntry{{ID: "route53.record/A-x", Action: steps.Update}}}
		for range heldBack {
			rep.Plan = append(rep.Plan, pipeline.PlanEntry{ID: "test.thing/b", Action: steps.Update,
				Notes: []string{"not applied: drift; reconcile.selfHeal does not list test.thing"}})
		}
		if _, err := g.AppendStatus("status", map[string][]byte{"status.json": rep.JSON(), "inventory.json": []byte(inventory)}, rep.Summary, at); err != nil {
			t.Fatal(err)
		}
	}
	heal(now.Add(-30*time.Minute), 1)
	if st, err = Read(src); err != nil || st.Drift == nil || st.Drift.Resources != 1 || !st.Drift.Since.Equal(now.Add(-30*time.Minute)) {
		t.Errorf("after a heal that held one back: drift %+v, %v", st.Drift, err)
	}
	heal(now.Add(-20*time.Minute), 0)
	if st, err = Read(src); err != nil || st.Drift != nil {
		t.Errorf("after a heal that applied everything: drift %+v, %v", st.Drift, err)
	}

	// A deployment after the drift ends it.
	record(pipeline.KindDeploy, pipeline.ResultFailed, now, 1)
	if st, err = Read(src); err != nil || st.Drift != nil || !st.LastDeploy.Failed() {
		t.Errorf("after a deployment: drift %+v, last %+v, %v", st.Drift, st.LastDeploy, err)
	}

	// An unattended pass that fails (e.g. cannot observe) warns until one
	// works again (a check in sync after a failure is recorded).
	record(pipeline.KindDrift, pipeline.ResultFailed, now.Add(time.Minute), 0)
	st, err = Read(src)
	if err != nil || !st.LastPass.Failed() {
		t.Fatalf("after a failed check: last pass %+v, %v", st.LastPass, err)
	}
	if out := Check([]*State{st}, DefaultThresholds, now).Output(); !strings.Contains(out, "WARNING: infra: last unattended pass drift: failed") {
		t.Errorf("a failed check does not warn:\n%s", out)
	}
	record(pipeline.KindDrift, pipeline.ResultPlanned, now.Add(2*time.Minute), 0)
	if st, err = Read(src); err != nil || st.LastPass == nil || st.LastPass.Failed() {
		t.Errorf("after a check in sync: last pass %+v, %v", st.LastPass, err)
	}
}
