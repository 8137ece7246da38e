package pipeline

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenReport is a failed apply with every section filled.
func goldenReport() *Report {
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	r := &Report{Schema: StatusSchema, RunID: "20261125T030000Z-abcdef", Kind: KindDeploy, Result: ResultFailed, Stage: "apply",
		Started: start, Finished: start.Add(2345 * time.Millisecond), DurationMS: 2345,
		Counts: map[string]int{"create": 1, "update": 2, "delete": 1, "adopt": 1, "noop": 2}, Timings: map[string]int64{"apply": 2000}}
	r.Source.Commit, r.Source.Branch, r.Source.PushedBy, r.Source.Subject = "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678", "main", "alice", "Give nextcloud more memory | and a name"
	r.Plan = []PlanEntry{
		{ID: "proxmox.lxc/nextcloud", Action: steps.Update, Fields: []steps.FieldChange{{Path: "memory", Before: 2048.0, After: 4096.0}, {Path: "features.nesting", Before: false, After: true, Effect: "reboot"},
			{Path: "networks[0].ip", Before: "10.42.0.120/24", After: "10.42.0.121/24"}, {Path: "networks[1]", After: map[string]any{"bridge": "vmbr1", "ip": "dhcp"}}},
			Notes: []string{"pending reboot: features"}},
		{ID: "route53.record/A-cloud.mydomain.com", Action: steps.Create, Fields: []steps.FieldChange{{Path: "type", After: "A"}, {Path: "values", After: []any{"203.0.113.10"}}}},
		{ID: "freeipa.host/old.hetzner.int.mydomain", Action: steps.Delete},
		{ID: "freeipa.host/web.hetzner.int.mydomain", Action: steps.NoOp},
		{ID: "proxmox.lxc/pihole", Action: steps.Adopt},
		{ID: "proxmox.lxc/gitolite", Action: steps.Update, Fields: []steps.FieldChange{{Path: "cores", Before: 1.0, After: 2.0}},
			Blocked: "CT 112 is locked (backup): try again after the backup"},
		{ID: "route53.record/A-blog.mydomain.com", Action: steps.NoOp},
	}
	outs := []steps.Outcome{
		{ID: steps.ID{Kind: "proxmox.lxc", Name: "nextcloud"}, Action: steps.Update, Status: steps.StatusOK, Attempts: 2, Duration: 1500 * time.Millisecond},
		{ID: steps.ID{Kind: "route53.record", Name: "A-cloud.mydomain.com"}, Action: steps.Create, Status: steps.StatusFailed, Attempts: 4,
			Err: steps.Transient(errors.New("Throttling: Rate exceeded")), Duration: 400 * time.Millisecond},
		{ID: steps.ID{Kind: "freeipa.host", Name: "old.hetzner.int.mydomain"}, Action: steps.Delete, Status: steps.StatusSkipped,
			SkippedBecause: steps.ID{Kind: "route53.record", Name: "A-cloud.mydomain.com"}},
		{ID: steps.ID{Kind: "proxmox.lxc", Name: "gitolite"}, Action: steps.Update, Status: steps.StatusSkipped,
			Blocked: "CT 112 is locked (backup): try again after the backup"},
	}
	r.Applied = appliedChanges(outs, func(s string) string { return s })
	r.Policy.Warn = []Finding{{Message: "proxmox.lxc/nextcloud has protect: false", File: "policy/guests.rego", Line: 30}}
	r.Warnings = []string{"proxmox: TLS verification is off (insecureSkipVerify)"}
	r.summarize()
	return r
}

// TestReportGolden renders STATUS.md and the terminal text of a report
// with every section; `go test -run TestReportGolden -update` rewrites them.
func TestReportGolden(t *testing.T) {
	r := goldenReport()
	for name, got := range map[string][]byte{"status.golden.md": r.Markdown(), "text.golden.txt": []byte(r.Text())} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs; run `go test ./runner/pipeline -run TestReportGolden -update` and review the diff.\n--- got:\n%s", name, got)
		}
	}
	if r.Summary != "deploy 1a2b3c4: failed, 1 changed, 1 failed, 2 skipped" {
		t.Errorf("summary = %q", r.Summary)
	}
}

// TestReportsShowWhatChangedInsideValues (issue 17.1): a change inside a
// list shows the element and field that differ, in the push output, `runner
// plan` and STATUS.md; STATUS.md lists every field (the ninth, the one that
// makes the guest be replaced, was once hidden behind "… 8 more"); a long
// value's difference is visible; a create is never cut inside a value.
func TestReportsShowWhatChangedInsideValues(t *testing.T) {
	type network struct {
		Bridge  string `json:"bridge"`
		Gateway string `json:"gateway,omitempty"`
		IP      string `json:"ip"`
	}
	type guest struct {
		Networks    []network `json:"networks"`
		Description string    `json:"description"`
		Cores       int       `json:"cores"`
		Memory      int       `json:"memory"`
		Swap        int       `json:"swap"`
		OnBoot      bool      `json:"onboot"`
		Hostname    string    `json:"hostname"`
		Nameserver  string    `json:"nameserver"`
		RootFS      struct {
			Storage string `json:"storage"`
		} `json:"rootfs"`
	}
	long := "Nextcloud for the family; backups nightly to the NAS at 02:00, owner "
	before := guest{Networks: []network{{Bridge: "vmbr0", Gateway: "10.42.0.1", IP: "10.42.0.120/24"}}, Description: long + "alice",
		Cores: 1, Memory: 512, Swap: 0, Hostname: "a", Nameserver: "10.42.0.1"}
	before.RootFS.Storage = "local-lvm"
	after := guest{Networks: []network{{Bridge: "vmbr0", Gateway: "10.42.0.1", IP: "10.42.0.121/24"}, {Bridge: "vmbr1", IP: "dhcp"}},
		Description: long + "bob", Cores: 2, Memory: 1024, Swap: 512, OnBoot: true, Hostname: "b", Nameserver: "10.42.0.53"}
	after.RootFS.Storage = "ceph"
	fields := steps.DiffFields(before, after)
	create := steps.DiffFields(nil, after)
	r := &Report{Counts: map[string]int{"update": 1, "create": 1}, Plan: []PlanEntry{
		{ID: "proxmox.lxc/nextcloud", Action: steps.Update, Fields: fields},
		{ID: "proxmox.lxc/new", Action: steps.Create, Fields: create},
	}}
	r.summarize()
	md, text := string(r.Markdown()), r.Text()
	for _, want := range []string{
		`networks[0].ip: "10.42.0.120/24" → "10.42.0.121/24"`,
		`networks[1]: added {"bridge":"vmbr1","ip":"dhcp"}`,
		`description: …2:00, owner alice" → …2:00, owner bob"`,
		`rootfs.storage: "local-lvm" → "ceph"`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("STATUS.md lacks %q:\n%s", want, md)
		}
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(md, "more") {
		t.Errorf("STATUS.md hides fields:\n%s", md)
	}
	// The create shows every value whole, broken between values.
	for _, want := range []string{`description="` + long + `bob"`, `networks=[{"bridge":"vmbr0","gateway":"10.42.0.1","ip":"10.42.0.121/24"},{"bridge":"vmbr1","ip":"dhcp"}]`} {
		if !strings.Contains(md, want) || !strings.Contains(text, want) {
			t.Errorf("the create lacks %s:\n%s\n%s", want, md, text)
		}
	}
}
