package metrics

import (
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/gitrepotest"
	"github.com/gitops-runner/gitops-runner/internal/promtest"
	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/monitor"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/queue"
	"github.com/gitops-runner/gitops-runner/steps"
)

// record appends a status commit as the pipeline writes it.
func record(t *testing.T, g *gitstore.Repo, rep *pipeline.Report) {
	t.Helper()
	rep.Schema = pipeline.StatusSchema
	rep.Source.Commit = "1a2b3c4d5e6f70811a2b3c4d5e6f70811a2b3c4d"
	if _, err := g.AppendStatus("status", map[string][]byte{"status.json": rep.JSON(), "inventory.json": []byte(`{"schema":"gitops-runner/inventory/v1","resources":[]}`)}, rep.Summary, rep.Finished); err != nil {
		t.Fatal(err)
	}
}

func scrape(t *testing.T, c *Collector) string {
	t.Helper()
	h, err := Handler(c)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, b)
	}
	return string(b)
}

// TestCollector: the metrics follow the status history as runs are added
// (counted once each, however often scraped), the queue and a failure; the
// text passes `promtool check metrics` (Debian package prometheus).
func TestCollector(t *testing.T) {
	dir := t.TempDir()
	bare := gitrepotest.New(t).Bare
	g, err := gitstore.Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := queue.Open(filepath.Join(dir, "queue"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	c := &Collector{Now: func() time.Time { return now }, Sources: func() ([]monitor.Source, error) {
		g, err := gitstore.Open(bare)
		return []monitor.Source{{Name: "infra", Repo: g, StatusBranch: "status", Spool: sp}}, err
	}}

	record(t, g, &pipeline.Report{Kind: pipeline.KindDeploy, Result: pipeline.ResultOK, Summary: "deploy 1a2b3c4: ok, 1 changed",
		Finished: now.Add(-time.Hour), DurationMS: 1500,
		Applied: []pipeline.AppliedChange{{ID: "proxmox.lxc/web", Action: steps.Create, Status: steps.StatusOK, Attempts: 2}}})
	out := scrape(t, c)
	for _, want := range []string{
		`gitops_runner_runs_total{kind="deploy",repo="infra",result="ok"} 1`,
		`gitops_runner_last_deployment_failed{repo="infra"} 0`,
		`gitops_runner_change_attempts_total{repo="infra",resource_kind="proxmox.lxc"} 2`,
		`gitops_runner_last_run_duration_seconds{kind="deploy",repo="infra"} 1.5`,
		`gitops_runner_state_up{repo="infra"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first scrape lacks %s", want)
		}
	}

	record(t, g, &pipeline.Report{Kind: pipeline.KindDeploy, Result: pipeline.ResultFailed, Summary: "deploy 1a2b3c4: failed", Finished: now,
		Applied: []pipeline.AppliedChange{{ID: "proxmox.lxc/web", Action: steps.Update, Status: steps.StatusFailed, Attempts: 4}}})
	if err := sp.Add(&queue.Job{Ref: "refs/heads/main", PushedAt: now.Add(-90 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	out = scrape(t, c)
	for _, want := range []string{
		`gitops_runner_runs_total{kind="deploy",repo="infra",result="ok"} 1`,
		`gitops_runner_runs_total{kind="deploy",repo="infra",result="failed"} 1`,
		`gitops_runner_last_run_result{kind="deploy",repo="infra",result="failed"} 1`,
		`gitops_runner_last_run_result{kind="deploy",repo="infra",result="ok"} 0`,
		`gitops_runner_last_deployment_failed{repo="infra"} 1`,
		`gitops_runner_changes_total{repo="infra",resource_kind="proxmox.lxc",status="failed"} 1`,
		`gitops_runner_change_attempts_total{repo="infra",resource_kind="proxmox.lxc"} 6`,
		`gitops_runner_queue_jobs{repo="infra",state="pending"} 1`,
		`gitops_runner_queue_oldest_job_age_seconds{repo="infra"} 90`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("second scrape lacks %s\n", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
	promtest.Check(t, out)
}
