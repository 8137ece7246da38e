package proxmox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

func TestLockContentionIsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	tid, v1, st := e.created(proxmox.KindLXC, "nextcloud", lxcSpec)
	v2 := steptest.Decode(t, e.b, proxmox.KindLXC, strings.Replace(lxcSpec, `"cores": 2`, `"cores": 3`, 1))
	c := e.plan(owned(tid, v2, v1, st))[0]

	e.sim.FailNext("PUT /nodes/{node}/lxc/{vmid}/config", sim.Fault{Status: 500, Message: "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout"}, 1)
	e.sim.ResetCounters()
	_, ls, err := e.apply(c)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, strings.Join(ls, "\n"))
	}
	if n := e.sim.Counters().ByOp["PUT /nodes/{node}/lxc/{vmid}/config"]; n != 2 {
		t.Errorf("PUT config calls = %d, want 2 (lock timeout, then success)", n)
	}
	if conf, _, _ := e.sim.GuestConfig(101); conf["cores"] != "3" {
		t.Errorf("cores = %s", conf["cores"])
	}
}

func TestRealLockContention(t *testing.T) {
	t.Parallel()
	// A resize task holds the guest's lock for 60 ms; a config change
	// meanwhile waits 20 ms for the lock, gets PVE's lock timeout, and is
	// retried until the resize is done.
	e := newEnv(t, sim.Options{TaskDuration: 60 * time.Millisecond, LockTimeout: 20 * time.Millisecond}, nil)
	tid, v1, st := e.created(proxmox.KindLXC, "nextcloud", lxcSpec)
	grow := steptest.Decode(t, e.b, proxmox.KindLXC, strings.Replace(lxcSpec, `"size": "8GiB"`, `"size": "12GiB"`, 1))
	cores := steptest.Decode(t, e.b, proxmox.KindLXC, strings.Replace(lxcSpec, `"cores": 2`, `"cores": 3`, 1))
	cg := e.plan(owned(tid, grow, v1, st))[0]
	cc := e.plan(owned(tid, cores, v1, st))[0]
	e.sim.ResetCounters()
	var wg sync.WaitGroup
	wg.Add(1)
	var growErr error
	go func() {
		defer wg.Done()
		_, _, growErr = e.apply(cg)
	}()
	for _, running := e.sim.TaskCount(); running == 0; _, running = e.sim.TaskCount() {
		time.Sleep(time.Millisecond)
	}
	_, ls, err := e.apply(cc)
	wg.Wait()
	if err != nil || growErr != nil {
		t.Fatalf("apply: %v / %v\n%s", err, growErr, strings.Join(ls, "\n"))
	}
	locked := 0
	for _, r := range e.sim.Requests() {
		if r.Method == "PUT" && r.Route == "/nodes/{node}/lxc/{vmid}/config" && r.Status == 500 {
			locked++
		}
	}
	if locked == 0 {
		t.Errorf("no PUT met the lock: %+v", e.sim.Counters().ByOp)
	}
	conf, _, _ := e.sim.GuestConfig(101)
	if conf["cores"] != "3" || !strings.Contains(conf["rootfs"], "size=12G") {
		t.Errorf("cores=%s rootfs=%s", conf["cores"], conf["rootfs"])
	}
}

func TestFaultsAreRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, method, route string
		status              int
	}{
		{"595 on observe", "GET", "/nodes/{node}/lxc/{vmid}/pending", 595},
		{"596 on observe", "GET", "/cluster/resources", 596},
		{"reset on observe", "GET", "/nodes", sim.StatusReset},
		{"595 on start", "POST", "/nodes/{node}/lxc/{vmid}/status/start", 595},
		{"reset on create", "POST", "/nodes/{node}/lxc", sim.StatusReset},
		{"reset on task status", "GET", "/nodes/{node}/tasks/{upid}/status", sim.StatusReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Options{}, nil)
			tid := id(proxmox.KindLXC, "nextcloud")
			v1 := steptest.Decode(t, e.b, proxmox.KindLXC, lxcSpec)
			var st json.RawMessage
			if tc.method == "GET" && tc.route == "/nodes/{node}/lxc/{vmid}/pending" {
				st = e.mustApply(e.plan(steps.Target{ID: tid, Want: v1})[0])
			}
			e.sim.ResetCounters()
			e.sim.FailNext(tc.method+" "+tc.route, sim.Fault{Status: tc.status, Message: "Connection refused"}, 1)
			c := e.plan(owned(tid, v1, nil, st))[0]
			if st == nil {
				e.mustApply(c)
			}
			if n := e.sim.Counters().ByOp[tc.method+" "+tc.route]; n < 2 {
				t.Errorf("%s %s called %d times, want a retry", tc.method, tc.route, n)
			}
			if _, running, ok := e.sim.GuestConfig(101); !ok || !running {
				t.Errorf("CT 101 exists=%v running=%v", ok, running)
			}
		})
	}
}

func TestPermanentErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"unknown storage", strings.Replace(lxcSpec, `"storage": "local-lvm"`, `"storage": "fast-ssd"`, 1), "storage 'fast-ssd' does not exist"},
		{"missing template", strings.Replace(lxcSpec, "debian-12-standard_12.7-1", "debian-13-standard_13.1-1", 1), "volume 'local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst' does not exist"},
		{"parameter error", strings.Replace(lxcSpec, `"tags": ["web"]`, `"description": "`+strings.Repeat("x", 9000)+`"`, 1), "400 Parameter verification failed. [description: "},
	} {
		want := steptest.Decode(t, e.b, proxmox.KindLXC, tc.spec)
		c := e.plan(steps.Target{ID: id(proxmox.KindLXC, "x"), Want: want})[0]
		_, _, err := e.apply(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
			continue
		}
		if steps.IsTransient(err) {
			t.Errorf("%s: %v is marked transient", tc.name, err)
		}
		t.Logf("%s: %v", tc.name, err)
	}
	if _, _, ok := e.sim.GuestConfig(101); ok {
		t.Error("a failed create left CT 101 behind")
	}
}

func TestBadTokenIsClear(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{Tokens: map[string]string{tokenID: "another-secret"}}, nil)
	_, err := e.tryPlan(steps.Target{ID: id(proxmox.KindLXC, "x"), Want: steptest.Decode(t, e.b, proxmox.KindLXC, lxcSpec)})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "tokenSecret") || strings.Contains(err.Error(), secret) {
		t.Fatalf("err = %v", err)
	}
}

func TestPlanTimeBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	lxc := func(r ...string) steps.Spec {
		return steptest.Decode(t, e.b, proxmox.KindLXC, strings.NewReplacer(r...).Replace(lxcSpec))
	}
	for _, tc := range []struct {
		name  string
		ts    []steps.Target
		field string
		msg   string
	}{
		{"unknown node", []steps.Target{{ID: id(proxmox.KindLXC, "a"), Want: lxc(`"node": "pve"`, `"node": "pve2"`)}}, "node", `no node "pve2" in the cluster (nodes: pve)`},
		{"memory larger than the node", []steps.Target{{ID: id(proxmox.KindLXC, "a"), Want: lxc(`"memory": "4GiB"`, `"memory": "64GiB"`)}}, "memory", "65536 MiB is more than node pve has (49152 MiB)"},
		{"missing VM template", []steps.Target{{ID: id(proxmox.KindVM, "a"), Want: steptest.Decode(t, e.b, proxmox.KindVM, strings.Replace(vmSpec, "9000", "9001", 1))}}, "clone.template", "no VM template 9001 in the cluster (templates: 9000 debian-12-cloudinit)"},
		{"two resources with one VMID", []steps.Target{{ID: id(proxmox.KindLXC, "a"), Want: lxc()}, {ID: id(proxmox.KindLXC, "b"), Want: lxc()}}, "vmid", "101 is also asked for by proxmox.lxc/"},
	} {
		_, err := e.tryPlan(tc.ts...)
		var fe *steps.FieldError
		if !asFieldError(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%s: err = %v, want field %s: %s", tc.name, err, tc.field, tc.msg)
		}
	}
	// A template by name is found.
	vm := steptest.Decode(t, e.b, proxmox.KindVM, strings.Replace(vmSpec, "9000", `"debian-12-cloudinit"`, 1))
	if c := e.plan(steps.Target{ID: id(proxmox.KindVM, "dokku"), Want: vm})[0]; c.Action != steps.Create {
		t.Errorf("clone by name: %s", c.Action)
	}
}

func TestObserveIsNPlusTwoCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	const n = 40
	var ts []steps.Target
	for i := range n {
		vmid := 200 + i
		if err := e.sim.AddGuest(sim.GuestSpec{Node: "pve", VMID: vmid, Type: "lxc", Running: true, Config: map[string]string{
			"hostname": fmt.Sprintf("g%d", i), "memory": "512", "cores": "1", "tags": "gitops-runner",
			"rootfs": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=8G", vmid), "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth",
		}}); err != nil {
			t.Fatal(err)
		}
		spec := steptest.Decode(t, e.b, proxmox.KindLXC, fmt.Sprintf(`{"node":"pve","vmid":%d,"ostemplate":"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst","rootfs":{"storage":"local-lvm","size":"8GiB"},"networks":[{"bridge":"vmbr0","ip":"dhcp"}]}`, vmid))
		if i == n-1 {
			break // found by name below
		}
		ts = append(ts, steps.Target{ID: id(proxmox.KindLXC, fmt.Sprintf("g%d", i)), Want: spec, Last: spec})
	}
	// One by name (no VMID anywhere) and one that does not exist.
	byName := steptest.Decode(t, e.b, proxmox.KindLXC, `{"node":"pve","ostemplate":"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst","rootfs":{"storage":"local-lvm","size":"8GiB"}}`)
	ts = append(ts, steps.Target{ID: id(proxmox.KindLXC, fmt.Sprintf("g%d", n-1)), Want: byName}, steps.Target{ID: id(proxmox.KindLXC, "nope"), Want: byName})
	e.sim.ResetCounters()
	live, err := e.b.Observe(context.Background(), ts)
	if err != nil {
		t.Fatal(err)
	}
	c := e.sim.Counters()
	if c.Total > n+2 || c.ByOp["GET /nodes/{node}/lxc/{vmid}/pending"] != n {
		t.Errorf("observe of %d guests made %d calls (%v), want at most %d", n, c.Total, c.ByOp, n+2)
	}
	if len(live) != n || live[id(proxmox.KindLXC, "nope")] != nil {
		t.Errorf("observed %d guests, want %d", len(live), n)
	}
	if l, _ := live[id(proxmox.KindLXC, fmt.Sprintf("g%d", n-1))].(*proxmox.Live); l == nil || l.VMID != 200+n-1 {
		t.Errorf("g%d by name: %+v", n-1, l)
	}
	sum := e.b.LiveSummary().(map[string]any)["nodes"].(map[string]any)["pve"].(map[string]any)
	if sum["cpus"] != 8 || sum["memory"] != uint64(48<<30) {
		t.Errorf("live summary = %v", sum)
	}
}

func TestConcurrentCreatesGetDistinctVMIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{TaskDuration: 5 * time.Millisecond}, nil)
	const n = 8
	spec := steptest.Decode(t, e.b, proxmox.KindLXC, `{"node":"pve","memory":256,"ostemplate":"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst","rootfs":{"storage":"local-lvm","size":"4GiB"},"state":"stopped"}`)
	var ts []steps.Target
	for i := range n {
		ts = append(ts, steps.Target{ID: id(proxmox.KindLXC, fmt.Sprintf("c%d", i)), Want: spec})
	}
	cs := e.plan(ts...)
	states := make([]json.RawMessage, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			states[i], _, errs[i] = e.apply(c)
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("create c%d: %v", i, errs[i])
		}
		var ref struct{ VMID int }
		_ = json.Unmarshal(states[i], &ref)
		if seen[ref.VMID] || ref.VMID < 100 {
			t.Errorf("VMID %d given twice or invalid", ref.VMID)
		}
		seen[ref.VMID] = true
		if conf, _, ok := e.sim.GuestConfig(ref.VMID); !ok || conf["hostname"] != fmt.Sprintf("c%d", i) {
			t.Errorf("guest %d: %v %v", ref.VMID, ok, conf["hostname"])
		}
	}
}

func TestRetriedCreateDoesNotCreateTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	tid := id(proxmox.KindLXC, "nextcloud")
	want := steptest.Decode(t, e.b, proxmox.KindLXC, strings.Replace(lxcSpec, `"vmid": 101, `, "", 1))
	c := e.plan(steps.Target{ID: tid, Want: want})[0]
	// The node stays unreachable for the start longer than one call's
	// retries: the change fails transiently after the container exists.
	for range 4 {
		e.sim.FailNext("POST /nodes/{node}/lxc/{vmid}/status/start", sim.Fault{Status: 595, Message: "Connection timed out"}, 1)
	}
	_, _, err := e.apply(c)
	if err == nil || !steps.IsTransient(err) || !strings.Contains(err.Error(), "595") {
		t.Fatalf("first try: err = %v, want a transient 595", err)
	}
	// The executor's retry converges the container made by the first try.
	e.sim.ResetCounters()
	st := e.mustApply(c)
	if string(st) != `{"vmid":100,"node":"pve"}` {
		t.Errorf("state = %s", st)
	}
	n := e.sim.Counters()
	if n.ByOp["POST /nodes/{node}/lxc"] != 0 || n.ByOp["GET /cluster/nextid"] != 0 || n.ByOp["POST /nodes/{node}/lxc/{vmid}/status/start"] != 1 {
		t.Errorf("retry calls = %+v", n.ByOp)
	}
	if _, running, _ := e.sim.GuestConfig(100); !running {
		t.Error("CT 100 is not running")
	}
	if _, _, ok := e.sim.GuestConfig(101); ok {
		t.Error("a second container was created")
	}
}

// A server that answers 503 while observing is read again, with fewer
// reads in flight, and the run's warnings say so.
func TestObserveBacksOffOnStrain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	var ts []steps.Target
	for i := range 20 {
		vmid := 200 + i
		if err := e.sim.AddGuest(sim.GuestSpec{Node: "pve", VMID: vmid, Type: "lxc", Config: map[string]string{
			"hostname": fmt.Sprintf("g%d", i), "memory": "512", "tags": proxmox.OwnerTag,
			"rootfs": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=8G", vmid),
		}}); err != nil {
			t.Fatal(err)
		}
		spec := steptest.Decode(t, e.b, proxmox.KindLXC, fmt.Sprintf(`{"node":"pve","vmid":%d,"memory":512,"ostemplate":%q,"rootfs":{"storage":"local-lvm","size":"8GiB"}}`, vmid, sim.HomelabLXCTemplate))
		ts = append(ts, steps.Target{ID: id(proxmox.KindLXC, fmt.Sprintf("g%d", i)), Want: spec, Last: spec})
	}
	if w := e.b.Warnings(); len(w) != 0 {
		t.Fatalf("warnings before observing: %v", w)
	}
	e.sim.ResetCounters()
	e.sim.FailNext("GET /nodes/{node}/lxc/{vmid}/pending", sim.Fault{Status: 503, Message: "Service Unavailable"}, 2)
	live, err := e.b.Observe(context.Background(), ts)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 20 {
		t.Errorf("observed %d guests, want 20", len(live))
	}
	if n := e.sim.Counters().ByOp["GET /nodes/{node}/lxc/{vmid}/pending"]; n != 22 {
		t.Errorf("%d pending reads, want 20 + 2 retried", n)
	}
	w := e.b.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], fmt.Sprintf("lowered from %d to %d", proxmox.DefaultParallelism, proxmox.DefaultParallelism/4)) {
		t.Errorf("warnings = %q, want the limit lowered twice", w)
	}
	// The next observe starts at the configured bound again.
	if _, err := e.b.Observe(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
	if w := e.b.Warnings(); len(w) != 0 {
		t.Errorf("warnings after a calm observe: %v", w)
	}
}
