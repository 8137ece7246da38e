package dnsmasq_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/runner/doctor"
	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
)

// labWith is the lab's config changed by edit (site name → its settings).
func labWith(t *testing.T, cfg json.RawMessage, edit func(sites map[string]map[string]any)) *dnsmasq.Backend {
	t.Helper()
	var c map[string]map[string]map[string]any
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	edit(c["sites"])
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dnsmasq.New(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runner doctor probes every site, not only up to the first that fails:
// a site whose files' directory is missing and one whose directory the
// runner cannot write are each a FAIL with a fix that fits dnsmasq; the
// sites that pass are named; there is no clock check.
func TestDoctorProbesEverySite(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	missing := filepath.Join(t.TempDir(), "nodir")
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	// root may write any directory: the unwritable case needs another user.
	asUser := os.Geteuid() != 0
	b := labWith(t, l.config(), func(sites map[string]map[string]any) {
		for _, f := range []string{"addnHosts", "dhcpHostsfile", "serversFile"} {
			sites["flat1"][f] = filepath.Join(missing, f)
			if asUser {
				sites["flat2"][f] = filepath.Join(ro, f)
			}
		}
	})
	_, _, err := b.Probe(t.Context())
	var pe *dnsmasq.ProbeError
	if !errors.As(err, &pe) {
		t.Fatalf("probe: %v, want a *ProbeError", err)
	}
	wantFails, wantOK := 1, "hetzner (local), ovh (local)"
	if asUser {
		wantFails = 2
	} else {
		wantOK = "flat2 (local), " + wantOK
	}
	if len(pe.Failures) != wantFails || strings.Join(pe.OK, ", ") != wantOK {
		t.Errorf("failures %d, ok %q: %v", len(pe.Failures), pe.OK, err)
	}
	for _, w := range []string{"site flat1 (local): directory " + missing + " does not exist"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if !strings.Contains(pe.Fix(), "flat1: create "+missing+" there, writable by the runner's user") {
		t.Errorf("fix: %q", pe.Fix())
	}
	if asUser && (!strings.Contains(err.Error(), "site flat2 (local): directory "+ro+" is not writable by ") ||
		!strings.Contains(pe.Fix(), "flat2: let ")) {
		t.Errorf("unwritable directory: %v → %s", err, pe.Fix())
	}

	rs := doctor.BackendChecks(t.Context(), map[string]doctor.Prober{"dnsmasq": b}, []string{"dnsmasq"}, time.Now)
	if len(rs) != 1 || rs[0].Status != doctor.Fail || rs[0].Fix != pe.Fix() {
		t.Errorf("doctor: %v", rs)
	}
	// A good config: OK and no clock line.
	rs = doctor.BackendChecks(t.Context(), map[string]doctor.Prober{"dnsmasq": l.backend()}, []string{"dnsmasq"}, time.Now)
	if len(rs) != 1 || rs[0].Status != doctor.OK {
		t.Errorf("doctor, good config: %v", rs)
	}
}

// Over SSH, a dnsmasq that is not on the host fails the probe with what the
// remote shell said (its stderr went to the output), not an empty message.
func TestDoctorSSHDnsmasqMissing(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	s := startSSHD(t)
	b := labWith(t, s.sshConfig(t, l, s.knownHosts(t, "known_hosts", s.hostPub)), func(sites map[string]map[string]any) {
		sites["flat1"]["dnsmasq"] = "/nonexistent/dnsmasq"
	})
	_, _, err := b.Probe(t.Context())
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/dnsmasq exited with status 127: ") ||
		!strings.Contains(err.Error(), "/nonexistent/dnsmasq: No such file or directory") {
		t.Errorf("probe: %v", err)
	}
}
