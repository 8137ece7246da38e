package proxmox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/policy"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// mainJsonnet declares the homelab's guests on the Hetzner host, in the
// single-host form (one simulator); extra is Jsonnet applied to the list
// (e.g. a filter).
func mainJsonnet(extra string) string {
	return `local runner = import 'runner.libsonnet';
local homelab = import 'homelab.libsonnet';
local h = homelab { sites+: { hetzner+: { proxmox+: { cluster: null } } }, guests: [g for g in homelab.guests if g.site == 'hetzner'] };
local guests = import 'guests.libsonnet';
local all = guests(h);
runner.output(` + extra + `)
`
}

// newPipeline is a pipeline with the built-in policies over e's backend.
func newPipeline(t *testing.T, e *env) *pipelinetest.Lab {
	t.Helper()
	p := pipelinetest.New(t, steps.ExecOptions{Concurrency: 4, Backoff: 1, MaxBackoff: 1}, e.b)
	p.Runner.Policy = policy.Checker{}
	return p
}

// deployHomelab is a simulated homelab with the reference guests pushed
// and applied through the pipeline.
func deployHomelab(t *testing.T) (*env, *pipelinetest.Lab) {
	t.Helper()
	e := newEnv(t, sim.Options{}, nil)
	p := newPipeline(t, e)
	p.In.Push("homelab", homelabFiles(t, "all"))
	if rep := p.Run(); rep.Result != pipeline.ResultOK {
		t.Fatalf("deploy: %s %v", rep.Summary, rep.Errors)
	}
	return e, p
}

// homelabFiles are the reference homelab's guests, main.jsonnet applying
// extra to them (see mainJsonnet).
func homelabFiles(t *testing.T, extra string) map[string]string {
	t.Helper()
	return map[string]string{
		"homelab.libsonnet": pipelinetest.Homelab(t, "homelab.libsonnet"),
		"guests.libsonnet":  pipelinetest.Homelab(t, "guests.libsonnet"),
		"sites.libsonnet":   pipelinetest.Homelab(t, "sites.libsonnet"),
		"main.jsonnet":      mainJsonnet(extra),
	}
}

func TestHomelabThroughThePipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	p := newPipeline(t, e)
	in := p.In
	run := func(wantResult pipeline.Result) *pipeline.Report {
		t.Helper()
		rep := p.Run()
		if rep.Result != wantResult {
			t.Fatalf("run: %s, want %s (errors %+v, policy %+v)", rep.Summary, wantResult, rep.Errors, rep.Policy)
		}
		return rep
	}

	// 1: every guest is created.
	in.Push("homelab", homelabFiles(t, "all"))
	rep := run(pipeline.ResultOK)
	if rep.Counts["create"] != 12 {
		t.Errorf("counts = %v, want 12 creates", rep.Counts)
	}
	for vmid := 101; vmid <= 112; vmid++ {
		if _, running, ok := e.sim.GuestConfig(vmid); !ok || !running {
			t.Errorf("guest %d: exists=%v running=%v", vmid, ok, running)
		}
	}
	conf, _, _ := e.sim.GuestConfig(104)
	if conf["name"] != "dokku" || conf["ipconfig0"] != "ip=10.42.0.104/24,gw=10.42.0.1" || !strings.Contains(conf["scsi0"], "size=64G") {
		t.Errorf("dokku: %v", conf)
	}

	// 2: the same commit again is a no-op: no write calls at all.
	e.sim.ResetCounters()
	in.Push("again", nil)
	rep = run(pipeline.ResultOK)
	if c := e.sim.Counters(); rep.Changed != 0 || c.Writes != 0 || c.Total != 12+2 {
		t.Errorf("second run: %d changed, calls %+v; want 0 changed, 0 writes, 14 reads", rep.Changed, c)
	}

	// 3: removing a protected guest is denied; nothing is deleted.
	in.Push("drop blog", map[string]string{"main.jsonnet": mainJsonnet("[g for g in all if g.name != 'blog']")})
	e.sim.ResetCounters()
	run(pipeline.ResultDenied)
	if c := e.sim.Counters(); c.Writes != 0 {
		t.Errorf("a denied run wrote: %+v", c.ByOp)
	}

	// 3b: a change that replaces a protected guest is denied too.
	in.Push("privileged blog", map[string]string{"main.jsonnet": mainJsonnet("[if g.name == 'blog' then g { spec+: { unprivileged: false } } else g for g in all]")})
	e.sim.ResetCounters()
	rep = run(pipeline.ResultDenied)
	if c := e.sim.Counters(); c.Writes != 0 || !strings.Contains(fmt.Sprint(rep.Policy.Deny), "proxmox.lxc/blog would be replaced (changed: unprivileged)") {
		t.Errorf("replace of a protected guest: writes %d, denials %+v", c.Writes, rep.Policy.Deny)
	}

	// 4: protect: false first (an update without API writes), then remove.
	in.Push("unprotect blog", map[string]string{"main.jsonnet": mainJsonnet("[if g.name == 'blog' then g { spec+: { protect: false } } else g for g in all]")})
	run(pipeline.ResultOK)
	in.Push("drop blog", map[string]string{"main.jsonnet": mainJsonnet("[g for g in all if g.name != 'blog']")})
	e.sim.ResetCounters()
	rep = run(pipeline.ResultOK)
	if rep.Counts["delete"] != 1 || rep.Changed != 1 {
		t.Errorf("counts = %v, want one delete", rep.Counts)
	}
	if _, _, ok := e.sim.GuestConfig(102); ok {
		t.Error("blog (102) still exists")
	}
	c := e.sim.Counters()
	if c.ByOp["DELETE /nodes/{node}/lxc/{vmid}"] != 1 || c.ByOp["POST /nodes/{node}/lxc/{vmid}/status/stop"] != 1 || c.Writes != 2 {
		t.Errorf("delete calls = %+v", c.ByOp)
	}
	for vmid := 101; vmid <= 112; vmid++ {
		if _, _, ok := e.sim.GuestConfig(vmid); !ok && vmid != 102 {
			t.Errorf("guest %d was deleted too", vmid)
		}
	}
	if inv := p.Status("inventory.json"); strings.Contains(inv, "proxmox.lxc/blog") || !strings.Contains(inv, `"vmid": 101`) {
		t.Errorf("inventory:\n%s", inv)
	}
}

func TestPipelineRefusesForeignVMID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	if err := e.sim.AddGuest(sim.GuestSpec{Node: "pve", VMID: 101, Type: "lxc", Config: map[string]string{
		"hostname": "legacy", "memory": "512", "unprivileged": "1", "rootfs": "local-lvm:vm-101-disk-0,size=8G"}}); err != nil {
		t.Fatal(err)
	}
	reg, _ := steps.NewRegistry(e.b)
	want := steptest.Decode(t, e.b, proxmox.KindLXC, lxcSpec)
	for _, adopt := range []bool{false, true} {
		desired := []steps.Resource{{ID: id(proxmox.KindLXC, "nextcloud"), Spec: want, Adopt: adopt}}
		inv := &pipeline.Inventory{Schema: pipeline.InventorySchema}
		ts, ds := pipeline.Targets(reg, desired, inv)
		if len(ds) > 0 {
			t.Fatal(ds)
		}
		live, err := pipeline.Observe(context.Background(), reg, ts)
		if err != nil {
			t.Fatal(err)
		}
		plan, ds := pipeline.MakePlan(reg, desired, inv, ts, live)
		switch {
		case !adopt && (len(ds) != 1 || !strings.Contains(ds[0].Summary, "already exists, and the runner did not create it")):
			t.Errorf("without adopt: %v", ds)
		case adopt && (len(ds) != 0 || plan.Changes[0].Action != steps.Update):
			t.Errorf("with adopt: %v %+v", ds, plan)
		}
	}
}

// TestRenameKeepsTheGuest: renaming a resource while its VMID stays is a
// rename, not an update of the new name plus a delete of the old one (which
// used to delete the guest the new name had just adopted). Two resources on
// one VMID are refused before anything is applied.
func TestRenameKeepsTheGuest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	p := newPipeline(t, e)
	run := func(msg, list string) *pipeline.Report {
		t.Helper()
		c := p.In.Push(msg, homelabFiles(t, list))
		// The push-time check judges the rename as the run does.
		if res, err := p.Runner.Check(context.Background(), c, pipeline.Push{User: "alice"}); err != nil || (res.Rejected() && strings.Contains(msg, "rename")) {
			t.Fatalf("check of %q: %v %+v", msg, err, res)
		}
		return p.Run()
	}
	// twitterbot is protected (the default): a rename deletes nothing, so
	// the protected-guests policy lets it pass.
	if rep := run("homelab", "all"); rep.Result != pipeline.ResultOK {
		t.Fatalf("deploy: %s %v", rep.Summary, rep.Errors)
	}

	e.sim.ResetCounters()
	rep := run("rename twitterbot", "[if g.name == 'twitterbot' then g { name: 'tb2', adopt: true } else g for g in all]")
	if rep.Result != pipeline.ResultOK || rep.Counts["delete"] != 0 || rep.Counts["rename"] != 1 {
		t.Fatalf("rename: %s, counts %v, errors %v, policy %v", rep.Summary, rep.Counts, rep.Errors, rep.Policy.Deny)
	}
	if _, _, ok := e.sim.GuestConfig(103); !ok {
		t.Fatal("the renamed guest (VMID 103) was deleted")
	}
	// The hostname follows the resource's name (one config write); the
	// guest is neither stopped nor deleted.
	if c := e.sim.Counters(); c.ByOp["DELETE /nodes/{node}/lxc/{vmid}"] != 0 || c.ByOp["POST /nodes/{node}/lxc/{vmid}/status/stop"] != 0 || c.Writes != 1 {
		t.Errorf("a rename wrote more than the new hostname: %+v\n%s", c.ByOp, rep.Text())
	}
	inv := p.Status("inventory.json")
	if strings.Contains(inv, "proxmox.lxc/twitterbot") || !strings.Contains(inv, "proxmox.lxc/tb2") {
		t.Errorf("the inventory entry did not move:\n%s", inv)
	}
	if md := p.Status("STATUS.md"); !strings.Contains(md, "renamed from proxmox.lxc/twitterbot") {
		t.Errorf("STATUS.md does not show the rename:\n%s", md)
	}

	// Two resources on one VMID: refused, nothing written.
	e.sim.ResetCounters()
	rep = run("a second guest on 103", "all + [g { name: 'copy', spec+: { hostname: 'copy' } } for g in all if g.name == 'twitterbot']")
	if rep.Result != pipeline.ResultFailed || rep.Stage != pipeline.StagePlan ||
		!strings.Contains(rep.Errors.Error(), "these resources manage one live object (proxmox:vmid:103)") {
		t.Errorf("collision: %s, stage %s, errors %v", rep.Summary, rep.Stage, rep.Errors)
	}
	if c := e.sim.Counters(); c.Writes != 0 {
		t.Errorf("a refused plan wrote: %+v", c.ByOp)
	}
}

// lockGuest sets (or, with "", clears) the config lock of a simulated guest,
// as a running backup or migration does.
func lockGuest(t *testing.T, e *env, vmid int, lock string) {
	t.Helper()
	b, err := e.sim.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	conf := st["guests"].(map[string]any)[strconv.Itoa(vmid)].(map[string]any)["conf"].(map[string]any)
	if lock == "" {
		delete(conf, "lock")
	} else {
		conf["lock"] = lock
	}
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Restore(b); err != nil {
		t.Fatal(err)
	}
}

// TestLockedGuestIsSkippedAtPlanTime (issue 17.4): a guest locked by a
// backup is said to be locked in the plan; its change and its dependents
// are skipped without a single call, the rest is applied, and the run is
// failed (a skipped change leaves the commit not fully applied, as when a
// dependency fails) with what to do. It used to burn four attempts on the
// lock and end with "the error looked transient … check the backend's
// health".
func TestLockedGuestIsSkippedAtPlanTime(t *testing.T) {
	t.Parallel()
	e, p := deployHomelab(t)
	lockGuest(t, e, 101, "backup")

	p.In.Push("more memory", homelabFiles(t, `[
  if g.name == 'nextcloud' then g { spec+: { memory: 6144 } }
  else if g.name == 'twitterbot' then g { spec+: { memory: 1024 }, dependsOn: ['proxmox.lxc/nextcloud'] }
  else if g.name == 'grafana' then g { spec+: { memory: 2048 } }
  else g
  for g in all]`))
	e.sim.ResetCounters()
	rep := p.Run()
	const msg = "CT 101 is locked (backup): try again after the backup"
	if rep.Result != pipeline.ResultFailed || rep.Stage != pipeline.StageApply {
		t.Fatalf("run: %s, want failed in apply", rep.Summary)
	}
	byID := map[string]pipeline.AppliedChange{}
	for _, s := range rep.Applied {
		byID[s.ID] = s
	}
	nc, tb, gr := byID["proxmox.lxc/nextcloud"], byID["proxmox.lxc/twitterbot"], byID["proxmox.lxc/grafana"]
	if nc.Status != "skipped" || nc.Attempts != 0 || nc.Blocked != msg || !strings.Contains(nc.Hint, msg) {
		t.Errorf("nextcloud: %+v", nc)
	}
	if tb.Status != "skipped" || tb.SkippedBecause != "proxmox.lxc/nextcloud" || !strings.Contains(tb.Hint, msg) {
		t.Errorf("twitterbot (depends on nextcloud): %+v", tb)
	}
	if gr.Status != "ok" {
		t.Errorf("grafana: %+v", gr)
	}
	if c := e.sim.Counters(); c.ByOp["PUT /nodes/{node}/lxc/{vmid}/config"] != 1 {
		t.Errorf("config writes = %d, want 1 (grafana's only): %+v", c.ByOp["PUT /nodes/{node}/lxc/{vmid}/config"], c.ByOp)
	}
	if conf, _, _ := e.sim.GuestConfig(108); conf["memory"] != "2048" {
		t.Errorf("grafana's memory = %s", conf["memory"])
	}
	text := rep.Text()
	if !strings.Contains(text, "~ update  proxmox.lxc/nextcloud\n      blocked: "+msg) || strings.Contains(text, "transient") {
		t.Errorf("the push output does not say the guest is locked at plan time:\n%s", text)
	}
	if md := p.Status("STATUS.md"); !strings.Contains(md, "blocked: "+msg) {
		t.Errorf("STATUS.md:\n%s", md)
	}

	// The backup is over: the next run applies the rest.
	lockGuest(t, e, 101, "")
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Changed != 2 {
		t.Errorf("after the backup: %s", rep.Summary)
	}
}

// TestRevertingAPendingChangeNeedsNoReboot (issue 17.5): setting a running
// VM's memory back to the value it runs with cancels the pending change in
// Proxmox; the plan says so instead of "(reboot)" and "pending reboot".
func TestRevertingAPendingChangeNeedsNoReboot(t *testing.T) {
	t.Parallel()
	e, p := deployHomelab(t)
	dokku := func(memory int) map[string]string {
		return homelabFiles(t, fmt.Sprintf("[if g.name == 'dokku' then g { spec+: { memory: %d } } else g for g in all]", memory))
	}
	entry := func(rep *pipeline.Report) pipeline.PlanEntry {
		t.Helper()
		for _, e := range rep.Plan {
			if e.ID == "proxmox.vm/dokku" {
				return e
			}
		}
		t.Fatalf("no dokku in the plan:\n%s", rep.Text())
		return pipeline.PlanEntry{}
	}

	// Less memory for the running VM: pending until it restarts.
	p.In.Push("less memory", dokku(4096))
	rep := p.Run()
	if d := entry(rep); rep.Result != pipeline.ResultOK || len(d.Fields) != 1 || d.Fields[0].Effect != steps.EffectReboot {
		t.Fatalf("less memory: %s\n%s", rep.Summary, rep.Text())
	}
	if conf, _, _ := e.sim.GuestConfig(104); conf["memory"] != "8192" {
		t.Fatalf("the running VM's memory changed at once: %s", conf["memory"])
	}

	// Back to what it runs with: Proxmox drops the pending change.
	p.In.Push("back", dokku(8192))
	rep = p.Run()
	d := entry(rep)
	text := rep.Text()
	if rep.Result != pipeline.ResultOK || d.Action != steps.Update || len(d.Fields) != 1 || d.Fields[0].Effect != "" ||
		strings.Contains(text, "reboot") || !strings.Contains(text, "cancels Proxmox's pending change of memory") {
		t.Errorf("back to the running value: %s\n%s", rep.Summary, text)
	}
	// Nothing is pending any more: the next plan is a no-op without notes.
	rep = p.Run()
	if d := entry(rep); d.Action != steps.NoOp || len(d.Notes) != 0 {
		t.Errorf("after: %+v", d)
	}
}

// TestListChangeShowsTheElement (issue 17.1): a new IP on net0 and a second
// network show as the element and field that differ, in the push output
// and STATUS.md (both sides of the whole list used to read the same).
func TestListChangeShowsTheElement(t *testing.T) {
	t.Parallel()
	e, p := deployHomelab(t)
	p.In.Push("second network", homelabFiles(t, `[
  if g.name == 'nextcloud' then g { spec+: { networks: [
    { bridge: 'vmbr0', ip: '10.42.0.121/24', gateway: '10.42.0.1' },
    { bridge: 'vmbr0', ip: '10.42.1.101/24' },
  ] } } else g
  for g in all]`))
	rep := p.Run()
	if rep.Result != pipeline.ResultOK {
		t.Fatalf("run: %s %v", rep.Summary, rep.Errors)
	}
	text, md := rep.Text(), p.Status("STATUS.md")
	for _, want := range []string{
		`networks[0].ip: "10.42.0.101/24" → "10.42.0.121/24"`,
		`networks[1]: added {"bridge":"vmbr0","ip":"10.42.1.101/24"`,
	} {
		if !strings.Contains(text, want) || !strings.Contains(md, want) {
			t.Errorf("%s is not shown:\n%s\n%s", want, text, md)
		}
	}
	if conf, _, _ := e.sim.GuestConfig(101); !strings.Contains(conf["net0"], "ip=10.42.0.121/24") || !strings.Contains(conf["net1"], "ip=10.42.1.101/24") {
		t.Errorf("net0 = %s, net1 = %s", conf["net0"], conf["net1"])
	}
}
