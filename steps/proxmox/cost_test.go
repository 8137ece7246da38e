package proxmox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

// evaluated is the cached field of the last "evaluated" log entry.
func evaluated(h *logtest.Hook) string {
	es := h.AllEntries()
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Message == "evaluated" {
			return fmt.Sprintf("cached=%v", es[i].Data["cached"])
		}
	}
	return "no evaluation logged"
}

// The API calls of a push over 1000 guests (issue 16): a no-op reads
// /cluster/resources, /nodes and each guest's /pending once and writes
// nothing; one changed field adds only that guest's change.
func TestPushCallCounts1000(t *testing.T) {
	t.Parallel()
	l := newLab(t, 1000, false, 0)
	push := func() *pipeline.Report { return l.checkAndRun(t) }

	// The worker's run reuses what the check evaluated (evalcache.go).
	log, hook := logtest.NewNullLogger()
	l.lab.Runner.Log = log
	l.e.sim.ResetCounters()
	rep := push()
	c := l.e.sim.Counters()
	if n := evaluated(hook); n != "cached=true" {
		t.Errorf("the worker's evaluation: %s, want cached=true", n)
	}
	if rep.Result != pipeline.ResultOK || rep.Counts["noop"] != 1000 {
		t.Fatalf("no-op push: %s %v", rep.Summary, rep.Counts)
	}
	if c.Total != 1002 || c.Writes != 0 || c.ByOp["GET /cluster/resources"] != 1 || c.ByOp["GET /nodes"] != 1 ||
		c.ByOp["GET /nodes/{node}/lxc/{vmid}/pending"] != 750 || c.ByOp["GET /nodes/{node}/qemu/{vmid}/pending"] != 250 {
		t.Errorf("no-op push: %d calls, %d writes, want 1002 reads: %v", c.Total, c.Writes, c.ByOp)
	}

	// g1000 (a running container) gets 2 GiB: the same reads and one
	// config write (a synchronous PUT, no task), applied live (memory is
	// hot-pluggable).
	l.lab.In.Push("g1000 memory 2GiB", map[string]string{"main.jsonnet": guestsJsonnet(1000, false, "2GiB")})
	l.e.sim.ResetCounters()
	rep = push()
	c = l.e.sim.Counters()
	if rep.Result != pipeline.ResultOK || rep.Counts["update"] != 1 || rep.Counts["noop"] != 999 {
		t.Fatalf("one-field push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if c.Total != 1003 || c.Writes != 1 || c.ByOp["PUT /nodes/{node}/lxc/{vmid}/config"] != 1 {
		t.Errorf("one-field push: %d calls, %d writes, want the 1002 reads and 1 PUT config: %v", c.Total, c.Writes, c.ByOp)
	}
	if conf, _, _ := l.e.sim.GuestConfig(1000); conf["memory"] != "2048" {
		t.Errorf("CT 1000 memory = %q, want 2048", conf["memory"])
	}
}

// A guest changed behind the runner's back (through the API, as in the
// Proxmox UI) among 1000 is found by the periodic drift check.
func TestDriftCheckFindsHandEdit1000(t *testing.T) {
	t.Parallel()
	l := newLab(t, 1000, false, 0)
	ctx := context.Background()
	rep, err := l.lab.Runner.Run(ctx, pipeline.Request{Kind: pipeline.KindDrift})
	if err != nil || rep.Counts["noop"] != 1000 {
		t.Fatalf("drift check before the edit: %v %s %v", err, rep.Summary, rep.Counts)
	}

	// Someone sets CT 1401's cores to 4 by hand.
	form := url.Values{"cores": {"4"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, l.e.ts.URL+"/api2/json/nodes/pve2/lxc/1401/config", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "PVEAPIToken="+tokenID+"="+secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := l.e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("hand edit: %s", res.Status)
	}

	l.e.sim.ResetCounters()
	rep, err = l.lab.Runner.Run(ctx, pipeline.Request{Kind: pipeline.KindDrift})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts["update"] != 1 || rep.Counts["noop"] != 999 {
		t.Fatalf("drift check: %s %v, want 1 update", rep.Summary, rep.Counts)
	}
	var found bool
	for _, p := range rep.Plan {
		if p.ID == "proxmox.lxc/g1401" && len(p.Fields) == 1 && p.Fields[0].Path == "cores" {
			found = true
		}
	}
	if !found {
		t.Errorf("drift plan lacks proxmox.lxc/g1401 cores: %+v", rep.Plan)
	}
	if c := l.e.sim.Counters(); c.Writes != 0 || c.ByOp["GET /nodes/{node}/lxc/{vmid}/pending"] != 750 {
		t.Errorf("drift check: %d writes, %v; want every guest read, nothing written", c.Writes, c.ByOp)
	}
	if status := l.lab.Status("STATUS.md"); !strings.Contains(status, "g1401") {
		t.Errorf("the drift is not recorded in STATUS.md:\n%s", status)
	}
}
