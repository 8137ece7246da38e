package proxmox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
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
// /cluster/resources and /nodes, and no guest, whose spec and summary are
// what they were at the last full read (the observation store), and writes
// nothing; one changed field reads that guest and writes its change.
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
	if c.Total != 2 || c.Writes != 0 || c.ByOp["GET /cluster/resources"] != 1 || c.ByOp["GET /nodes"] != 1 {
		t.Errorf("no-op push: %d calls, %d writes, want 2 reads: %v", c.Total, c.Writes, c.ByOp)
	}
	if o := rep.Observed; o == nil || o.Live != 0 || o.Cached != 1000 || o.CachedSince == nil {
		t.Errorf("no-op push: observed %+v, want 1000 cached", o)
	}
	if status := l.lab.Status("STATUS.md"); !strings.Contains(status, "Live state: 0 read live in this run, 1000 unchanged resources from a read of") {
		t.Errorf("STATUS.md does not say the reads were kept:\n%s", status)
	}

	// g1000 (a running container) gets 2 GiB: its read and one config
	// write (a synchronous PUT, no task), applied live (memory is
	// hot-pluggable).
	l.lab.In.Push("g1000 memory 2GiB", map[string]string{"main.jsonnet": guestsJsonnet(1000, false, "2GiB")})
	l.e.sim.ResetCounters()
	rep = push()
	c = l.e.sim.Counters()
	if rep.Result != pipeline.ResultOK || rep.Counts["update"] != 1 || rep.Counts["noop"] != 999 {
		t.Fatalf("one-field push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if c.Total != 4 || c.Writes != 1 || c.ByOp["PUT /nodes/{node}/lxc/{vmid}/config"] != 1 || c.ByOp["GET /nodes/{node}/lxc/{vmid}/pending"] != 1 {
		t.Errorf("one-field push: %d calls, %d writes, want 2 reads, g1000's read and 1 PUT config: %v", c.Total, c.Writes, c.ByOp)
	}
	if conf, _, _ := l.e.sim.GuestConfig(1000); conf["memory"] != "2048" {
		t.Errorf("CT 1000 memory = %q, want 2048", conf["memory"])
	}
	for _, p := range rep.Plan {
		if (p.ID == "proxmox.lxc/g1000") != (p.CachedSince == nil) {
			t.Errorf("plan entry %s: cachedSince %v; want only g1000 read live", p.ID, p.CachedSince)
		}
	}

	// Apply voided g1000's kept read before changing it.
	if b, err := os.ReadFile(filepath.Join(l.observed, "proxmox-observed.forgotten")); err != nil || string(b) != "1000\n" {
		t.Errorf("forgotten reads: %q %v, want 1000", b, err)
	}

	// The next push reads g1000 again: its kept read is from before the
	// change.
	l.e.sim.ResetCounters()
	rep = push()
	c = l.e.sim.Counters()
	if rep.Counts["noop"] != 1000 || c.Total != 3 || c.ByOp["GET /nodes/{node}/lxc/{vmid}/pending"] != 1 {
		t.Errorf("push after the change: %v, %d calls %v; want g1000 read again", rep.Counts, c.Total, c.ByOp)
	}
}

// handEdit changes a guest's config through the API, as the Proxmox UI
// would, behind the runner's back.
func (l *benchLab) handEdit(t *testing.T, path string, form url.Values) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPut, l.e.ts.URL+"/api2/json"+path, strings.NewReader(form.Encode()))
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
		t.Fatalf("hand edit of %s: %s", path, res.Status)
	}
}

// pendingReads is how many guest configs the last runs read.
func pendingReads(c sim.Counters) int {
	return c.ByOp["GET /nodes/{node}/lxc/{vmid}/pending"] + c.ByOp["GET /nodes/{node}/qemu/{vmid}/pending"]
}

// A hand edit that /cluster/resources shows (a container's cores are its
// maxcpu) makes the push read that guest, and put it back.
func TestPushReadsGuestWhoseSummaryChanged(t *testing.T) {
	t.Parallel()
	l := newLab(t, 1000, false, 0)
	l.handEdit(t, "/nodes/pve2/lxc/1401/config", url.Values{"cores": {"4"}})
	l.e.sim.ResetCounters()
	rep := l.checkAndRun(t)
	c := l.e.sim.Counters()
	if rep.Result != pipeline.ResultOK || rep.Counts["update"] != 1 || rep.Counts["noop"] != 999 {
		t.Fatalf("push: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if pendingReads(c) != 1 || c.Writes != 1 {
		t.Errorf("push: %d guest reads, %d writes, want CT 1401 read and put back: %v", pendingReads(c), c.Writes, c.ByOp)
	}
	if conf, _, _ := l.e.sim.GuestConfig(1401); conf["cores"] != "2" {
		t.Errorf("CT 1401 cores = %q, want 2", conf["cores"])
	}
	if o := rep.Observed; o == nil || o.Live != 1 || o.Cached != 999 {
		t.Errorf("observed %+v, want 1 live, 999 cached", o)
	}
}

// A hand edit that /cluster/resources does not show (a container's
// address) is not seen by a push, which reads no guest; the next drift
// check, which reads every guest, finds it; the push after that reads
// the guest live before it puts it back (a plan never changes a guest
// from a kept read).
func TestPushMissesHandEditDriftCheckFindsIt(t *testing.T) {
	t.Parallel()
	l := newLab(t, 1000, false, 0)
	ctx := context.Background()
	edited := "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:05:79,ip=10.0.0.5/24,type=veth"
	l.handEdit(t, "/nodes/pve2/lxc/1401/config", url.Values{"net0": {edited}})

	l.e.sim.ResetCounters()
	rep := l.checkAndRun(t)
	if c := l.e.sim.Counters(); rep.Counts["noop"] != 1000 || c.Total != 2 {
		t.Fatalf("push after the edit: %s %v, %d calls; want a no-op from kept reads", rep.Summary, rep.Counts, c.Total)
	}

	l.e.sim.ResetCounters()
	rep, err := l.lab.Runner.Run(ctx, pipeline.Request{Kind: pipeline.KindDrift})
	if err != nil {
		t.Fatal(err)
	}
	if c := l.e.sim.Counters(); pendingReads(c) != 1000 || c.Writes != 0 {
		t.Errorf("drift check: %v; want every guest read, nothing written", c.ByOp)
	}
	if rep.Counts["update"] != 1 || len(rep.Plan) != 1000 || rep.Observed == nil || rep.Observed.Cached != 0 {
		t.Fatalf("drift check: %s %v %+v, want 1 update, all read live", rep.Summary, rep.Counts, rep.Observed)
	}

	// The push after the drift check: its kept read of CT 1401 (the drift
	// check's) has the edit, so the plan would change it: everything is
	// read live again before anything is applied.
	l.e.sim.ResetCounters()
	rep = l.checkAndRun(t)
	c := l.e.sim.Counters()
	if rep.Result != pipeline.ResultOK || rep.Counts["update"] != 1 {
		t.Fatalf("push after the drift check: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if c.ByOp["GET /cluster/resources"] != 2 || pendingReads(c) != 1000 || c.Writes != 1 {
		t.Errorf("push after the drift check: %v; want a second, full observe and one write", c.ByOp)
	}
	if o := rep.Observed; o == nil || o.Cached != 0 {
		t.Errorf("push after the drift check: observed %+v, want all live", o)
	}
	if conf, _, _ := l.e.sim.GuestConfig(1401); strings.Contains(conf["net0"], "10.0.0.5") {
		t.Errorf("CT 1401 net0 = %q, want the edit undone", conf["net0"])
	}
}

// A missing or corrupt observation store, or --refresh=full, reads every
// guest live.
func TestObservationStoreFallsBackToFullReads(t *testing.T) {
	t.Parallel()
	l := newLab(t, 1000, false, 0)
	ctx := context.Background()
	store := filepath.Join(l.observed, "proxmox-observed.json")
	fi, err := os.Stat(store)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", store, fi.Mode().Perm())
	}
	good, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	plan := func(refresh pipeline.Refresh) (int, *pipeline.Report) {
		t.Helper()
		l.e.sim.ResetCounters()
		rep, err := l.lab.Runner.Run(ctx, pipeline.Request{Kind: pipeline.KindPlan, Refresh: refresh})
		if err != nil || rep.Counts["noop"] != 1000 {
			t.Fatalf("plan: %v %s %v", err, rep.Summary, rep.Counts)
		}
		return pendingReads(l.e.sim.Counters()), rep
	}
	if n, _ := plan(""); n != 0 {
		t.Fatalf("plan with the store: %d guest reads, want 0", n)
	}
	if n, rep := plan(pipeline.RefreshFull); n != 1000 || rep.Observed.Live != 1000 {
		t.Errorf("plan --refresh=full: %d guest reads, observed %+v, want 1000 live", n, rep.Observed)
	}
	corrupt := map[string][]byte{
		"a flipped byte": append(append([]byte{}, good[:len(good)-2]...), good[len(good)-2]^1, good[len(good)-1]),
		"truncated":      good[:len(good)/2],
		"not ours":       []byte("{}"),
	}
	for name, b := range corrupt {
		if err := os.WriteFile(store, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if n, _ := plan(""); n != 1000 {
			t.Errorf("plan with a store %s: %d guest reads, want 1000", name, n)
		}
	}
	if err := os.Remove(store); err != nil {
		t.Fatal(err)
	}
	if n, _ := plan(""); n != 1000 {
		t.Errorf("plan without a store: %d guest reads, want 1000", n)
	}
	// The store written by that plan stands for the guests again.
	if n, _ := plan(""); n != 0 {
		t.Errorf("plan after a full read: %d guest reads, want 0", n)
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
	l.handEdit(t, "/nodes/pve2/lxc/1401/config", url.Values{"cores": {"4"}})

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

// A guest whose config holds a secret (a VM's cipassword) is not kept in
// the observation store: it is read live on every push, and the store
// never holds the secret.
func TestObservationStoreKeepsNoSecret(t *testing.T) {
	t.Parallel()
	l := newLab(t, 1000, false, 0)
	l.handEdit(t, "/nodes/pve4/qemu/1003/config", url.Values{"cipassword": {"hunter2-secret"}})
	// A full read sees the password; the store then holds no read of
	// VM 1003.
	if rep, err := l.lab.Runner.Run(context.Background(), pipeline.Request{Kind: pipeline.KindPlan, Refresh: pipeline.RefreshFull}); err != nil || rep.Counts["noop"] != 1000 {
		t.Fatalf("plan --refresh=full: %v %s %v", err, rep.Summary, rep.Counts)
	}
	for range 2 {
		l.e.sim.ResetCounters()
		rep, err := l.lab.Runner.Run(context.Background(), pipeline.Request{Kind: pipeline.KindPlan})
		if err != nil || rep.Counts["noop"] != 1000 {
			t.Fatalf("plan: %v %s %v", err, rep.Summary, rep.Counts)
		}
		if c := l.e.sim.Counters(); pendingReads(c) != 1 || c.ByOp["GET /nodes/{node}/qemu/{vmid}/pending"] != 1 {
			t.Errorf("plan: %v, want VM 1003 read live", c.ByOp)
		}
		b, err := os.ReadFile(filepath.Join(l.observed, "proxmox-observed.json"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "cipassword") || strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), `"1002":`) {
			t.Errorf("the store holds the secret, or not the other guests")
		}
	}
}
