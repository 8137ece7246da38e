package pipeline

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
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
		Counts: map[string]int{"create": 1, "update": 1, "delete": 1, "noop": 2}, Timings: map[string]int64{"apply": 2000}}
	r.Source.Commit, r.Source.Branch, r.Source.PushedBy, r.Source.Subject = "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678", "main", "alice", "Give nextcloud more memory | and a name"
	r.Plan = []PlanEntry{
		{ID: "proxmox.lxc/nextcloud", Action: steps.Update, Fields: []steps.FieldChange{{Path: "memory", Before: 2048.0, After: 4096.0}, {Path: "features.nesting", Before: false, After: true, Effect: "reboot"}},
			Notes: []string{"pending reboot: features"}},
		{ID: "route53.record/A-cloud.mydomain.com", Action: steps.Create, Fields: []steps.FieldChange{{Path: "type", After: "A"}, {Path: "values", After: []any{"203.0.113.10"}}}},
		{ID: "freeipa.host/old.hetzner.int.mydomain", Action: steps.Delete},
		{ID: "freeipa.host/web.hetzner.int.mydomain", Action: steps.NoOp},
		{ID: "route53.record/A-blog.mydomain.com", Action: steps.NoOp},
	}
	outs := []steps.Outcome{
		{ID: steps.ID{Kind: "proxmox.lxc", Name: "nextcloud"}, Action: steps.Update, Status: steps.StatusOK, Attempts: 2, Duration: 1500 * time.Millisecond},
		{ID: steps.ID{Kind: "route53.record", Name: "A-cloud.mydomain.com"}, Action: steps.Create, Status: steps.StatusFailed, Attempts: 4,
			Err: steps.Transient(errors.New("Throttling: Rate exceeded")), Duration: 400 * time.Millisecond},
		{ID: steps.ID{Kind: "freeipa.host", Name: "old.hetzner.int.mydomain"}, Action: steps.Delete, Status: steps.StatusSkipped,
			SkippedBecause: steps.ID{Kind: "route53.record", Name: "A-cloud.mydomain.com"}},
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
	if r.Summary != "deploy 1a2b3c4: failed, 1 changed, 1 failed, 1 skipped" {
		t.Errorf("summary = %q", r.Summary)
	}
}
