package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/lab"
)

// TestDoctorLab runs `runner doctor` against the lab's simulators: every
// backend's probe goes through its real client (go-proxmox, the AWS SDK,
// the FreeIPA JSON-RPC client, an HTTP GET of Pebble's directory), and a
// backend whose CA is not trusted is reported as a TLS failure.
func TestDoctorLab(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(t.Context(), lab.Options{Dir: t.TempDir(), Runner: exe, Out: io.Discard,
		Backends: map[string]bool{"proxmox": true, "route53": true, "freeipa": true, "acme": true}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() //nolint:errcheck // test cleanup

	var out, errb bytes.Buffer
	code := run([]string{"--config", l.Config, "doctor"}, nil, &out, &errb, nil)
	t.Logf("runner doctor:\n%s%s", out.String(), errb.String())
	if code != 0 {
		t.Errorf("runner doctor: exit %d, want 0", code)
	}
	for _, want := range []string{
		"OK    backend proxmox: cluster flat1: GET /version: Proxmox VE",
		"OK    backend route53: GetHostedZone mydomain.com",
		"OK    backend freeipa: ping: ",
		"OK    backend acme: GET https://",
		"OK    clock route53: ", "OK    clock freeipa: ", "OK    clock acme: ",
		"OK    hooks infra: ", "OK    push options infra: ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("runner doctor: no line with %q", want)
		}
	}
	// The Proxmox VE simulator sends no Date header: its clock check is
	// the only one skipped.
	if strings.Contains(out.String(), "FAIL") || strings.Count(out.String(), "SKIP") != strings.Count(out.String(), "SKIP  clock proxmox: the server sent no Date header") {
		t.Errorf("runner doctor: a check failed or was skipped")
	}

	// Without the lab's CA, Proxmox VE's certificate is not trusted.
	untrusted := filepath.Join(filepath.Dir(l.Config), "untrusted.jsonnet")
	cfg := "std.mergePatch(import 'runner.jsonnet', { backends: { proxmox: { clusters: { hetzner: { caFile: null } } } } })\n"
	if err := os.WriteFile(untrusted, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code = run([]string{"--config", untrusted, "doctor"}, nil, &out, &errb, nil)
	if code != exitFailed {
		t.Errorf("runner doctor without the CA: exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(out.String(), "FAIL  TLS proxmox: ") || !strings.Contains(out.String(), "set caFile") {
		t.Errorf("runner doctor without the CA: want a TLS failure for proxmox:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "OK    backend route53: ") {
		t.Errorf("runner doctor without the CA: the other backends are still checked:\n%s", out.String())
	}
}
