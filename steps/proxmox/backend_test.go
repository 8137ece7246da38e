package proxmox_test

import (
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

func TestCreateLXCThenNoOp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	tid, want, c := e.planCreate(proxmox.KindLXC, "nextcloud", lxcSpec)
	e.sim.ResetCounters()
	st, ls, err := e.apply(c)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, strings.Join(ls, "\n"))
	}
	if string(st) != `{"vmid":101,"node":"pve"}` {
		t.Errorf("state = %s", st)
	}
	if !strings.Contains(strings.Join(ls, "\n"), "create CT 101 on pve: task UPID:pve:") {
		t.Errorf("progress lines lack the create task:\n%s", strings.Join(ls, "\n"))
	}
	for _, r := range e.sim.Requests() {
		if r.Method == "POST" && r.Route == "/nodes/{node}/lxc" && r.Params["ssh-public-keys"] != "ssh-ed25519 AAAAC3Nza admin@laptop" {
			t.Errorf("create sent ssh-public-keys %q", r.Params["ssh-public-keys"])
		}
	}
	if n := e.sim.Counters(); n.Writes != 2 {
		t.Errorf("create made %d writes (%v), want create and start", n.Writes, n.ByOp)
	}
	conf, running, ok := e.sim.GuestConfig(101)
	if !ok || !running {
		t.Fatalf("CT 101 exists=%v running=%v", ok, running)
	}
	for k, v := range map[string]string{"hostname": "nextcloud", "memory": "4096", "cores": "2", "features": "keyctl=1,nesting=1",
		"tags": "gitops-runner;web", "onboot": "1", "startup": "order=2", "unprivileged": "1"} {
		if conf[k] != v {
			t.Errorf("config %s = %q, want %q", k, conf[k], v)
		}
	}
	if !strings.Contains(conf["net0"], "ip=10.42.0.101/24") || !strings.Contains(conf["net0"], "gw=10.42.0.1") || !strings.Contains(conf["net0"], "hwaddr=BC:24:11:") {
		t.Errorf("net0 = %q", conf["net0"])
	}
	if !strings.HasPrefix(conf["rootfs"], "local-lvm:vm-101-disk-0") || !strings.Contains(conf["rootfs"], "size=8G") {
		t.Errorf("rootfs = %q", conf["rootfs"])
	}

	// The next run: nothing to do, and observing takes 3 calls.
	e.sim.ResetCounters()
	if c := e.plan(owned(tid, want, want, st))[0]; c.Action != steps.NoOp {
		t.Fatalf("second plan: %s %+v", c.Action, c.Fields)
	}
	if n := e.sim.Counters(); n.Total != 3 || n.Writes != 0 {
		t.Errorf("observe calls = %+v, want 3 reads", n)
	}
}

func TestCreateVMByCloneThenNoOp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	tid, want, c := e.planCreate(proxmox.KindVM, "dokku", vmSpec)
	st := e.mustApply(c)
	conf, running, ok := e.sim.GuestConfig(104)
	if !ok || !running {
		t.Fatalf("VM 104 exists=%v running=%v", ok, running)
	}
	for k, v := range map[string]string{"name": "dokku", "memory": "8192", "cores": "4", "ciuser": "admin",
		"ipconfig0": "ip=10.42.0.104/24,gw=10.42.0.1", "searchdomain": "hetzner.int.mydomain", "tags": "gitops-runner"} {
		if conf[k] != v {
			t.Errorf("config %s = %q, want %q", k, conf[k], v)
		}
	}
	if !strings.HasPrefix(conf["scsi0"], "local-zfs:vm-104-disk-0") || !strings.Contains(conf["scsi0"], "size=64G") {
		t.Errorf("scsi0 = %q", conf["scsi0"])
	}
	if !strings.Contains(conf["sshkeys"], "ssh-ed25519%20AAAAC3Nza") {
		t.Errorf("sshkeys = %q (want URL-encoded)", conf["sshkeys"])
	}
	mac := conf["net0"]
	if c := e.plan(owned(tid, want, want, st))[0]; c.Action != steps.NoOp {
		t.Fatalf("second plan: %s %+v", c.Action, c.Fields)
	}

	// A bridge change keeps the MAC Proxmox assigned.
	want2 := steptest.Decode(t, e.b, proxmox.KindVM, strings.Replace(vmSpec, `"bridge": "vmbr0"`, `"bridge": "vmbr1", "vlan": 42`, 1))
	c = e.plan(owned(tid, want2, want, st))[0]
	if c.Action != steps.Update || fieldPaths(c)["networks[0].bridge"] != "" {
		t.Fatalf("plan: %s %+v", c.Action, c.Fields)
	}
	e.mustApply(c)
	conf, _, _ = e.sim.GuestConfig(104)
	oldMAC := strings.TrimPrefix(strings.Split(mac, ",")[0], "virtio=")
	if !strings.Contains(conf["net0"], oldMAC) || !strings.Contains(conf["net0"], "bridge=vmbr1") || !strings.Contains(conf["net0"], "tag=42") {
		t.Errorf("net0 = %q, want bridge vmbr1, tag 42 and MAC %s", conf["net0"], oldMAC)
	}
}

func TestUpdateLiveAndReboot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	tid, v1, st := e.created(proxmox.KindVM, "dokku", vmSpec)

	// Tags and onboot apply live; cores needs a reboot of the running VM.
	v2 := steptest.Decode(t, e.b, proxmox.KindVM, strings.Replace(strings.Replace(vmSpec, `"cores": 4`, `"cores": 6`, 1), `"vmid": 104,`, `"vmid": 104, "tags": ["apps"], "onboot": true,`, 1))
	c := e.plan(owned(tid, v2, v1, st))[0]
	f := fieldPaths(c)
	if c.Action != steps.Update || f["cores"] != "reboot" || f["onboot"] != "" || len(f) != 3 {
		t.Fatalf("plan: %s %+v", c.Action, c.Fields)
	}
	if len(c.Notes) == 0 || !strings.HasPrefix(c.Notes[0], "pending reboot: cores") {
		t.Errorf("notes = %q", c.Notes)
	}
	e.sim.ResetCounters()
	e.mustApply(c)
	if n := e.sim.Counters(); n.Writes != 1 || n.ByOp["PUT /nodes/{node}/qemu/{vmid}/config"] != 1 {
		t.Errorf("update calls = %+v, want one PUT config", n)
	}
	conf, _, _ := e.sim.GuestConfig(104)
	if conf["cores"] != "4" || conf["onboot"] != "1" || conf["tags"] != "gitops-runner;apps" {
		t.Errorf("current config cores=%s onboot=%s tags=%s (cores must stay pending)", conf["cores"], conf["onboot"], conf["tags"])
	}
	// Next run: no change, but the pending reboot is reported.
	c = e.plan(owned(tid, v2, v2, st))[0]
	if c.Action != steps.NoOp || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "pending changes of cores") {
		t.Fatalf("plan after: %s %+v %q", c.Action, c.Fields, c.Notes)
	}

	// Stopping the guest is a shutdown.
	v3 := steptest.Decode(t, e.b, proxmox.KindVM, strings.Replace(strings.Replace(vmSpec, `"cores": 4`, `"cores": 6`, 1), `"vmid": 104,`, `"vmid": 104, "tags": ["apps"], "onboot": true, "state": "stopped",`, 1))
	c = e.plan(owned(tid, v3, v2, st))[0]
	if c.Action != steps.Update || len(c.Fields) != 1 || c.Fields[0].Path != "state" {
		t.Fatalf("stop plan: %s %+v", c.Action, c.Fields)
	}
	_, ls, err := e.apply(c)
	if err != nil || !strings.Contains(strings.Join(ls, "\n"), "shutdown VM 104: task UPID:") {
		t.Fatalf("shutdown: %v\n%s", err, strings.Join(ls, "\n"))
	}
	if _, running, _ := e.sim.GuestConfig(104); running {
		t.Error("VM 104 still runs after the shutdown")
	}
}

func TestUpdateLXCLiveAndResize(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	tid, v1, st := e.created(proxmox.KindLXC, "nextcloud", lxcSpec)
	v2 := steptest.Decode(t, e.b, proxmox.KindLXC, strings.NewReplacer(`"memory": "4GiB"`, `"memory": 6144`, `"size": "8GiB"`, `"size": "16GiB"`,
		`"tags": ["web"]`, `"tags": ["web"], "mounts": [{"path": "/data", "storage": "local-zfs", "size": "32GiB"}]`).Replace(lxcSpec))
	c := e.plan(owned(tid, v2, v1, st))[0]
	f := fieldPaths(c)
	if c.Action != steps.Update || f["memory"] != "" || f["rootfs.size"] != "" || len(c.Notes) != 0 {
		t.Fatalf("plan: %s %+v %q", c.Action, c.Fields, c.Notes)
	}
	if _, ok := f["mounts"]; !ok {
		t.Errorf("fields lack mounts: %+v", c.Fields)
	}
	e.sim.ResetCounters()
	e.mustApply(c)
	conf, running, _ := e.sim.GuestConfig(101)
	if !running || conf["memory"] != "6144" || !strings.Contains(conf["rootfs"], "size=16G") || !strings.Contains(conf["mp0"], "mp=/data") {
		t.Errorf("config memory=%s rootfs=%s mp0=%s running=%v", conf["memory"], conf["rootfs"], conf["mp0"], running)
	}
	n := e.sim.Counters()
	if n.ByOp["PUT /nodes/{node}/lxc/{vmid}/config"] != 1 || n.ByOp["PUT /nodes/{node}/lxc/{vmid}/resize"] != 1 {
		t.Errorf("calls = %+v", n.ByOp)
	}
	if c := e.plan(owned(tid, v2, v2, st))[0]; c.Action != steps.NoOp {
		t.Errorf("after update: %s %+v", c.Action, c.Fields)
	}

	// Features of a running container wait for a restart.
	v3 := steptest.Decode(t, e.b, proxmox.KindLXC, strings.NewReplacer(`"memory": "4GiB"`, `"memory": 6144`, `"size": "8GiB"`, `"size": "16GiB"`,
		`"tags": ["web"]`, `"tags": ["web"], "mounts": [{"path": "/data", "storage": "local-zfs", "size": "32GiB"}]`,
		`"keyctl": true`, `"keyctl": false`).Replace(lxcSpec))
	c = e.plan(owned(tid, v3, v2, st))[0]
	if fieldPaths(c)["features.keyctl"] != "reboot" || len(c.Notes) == 0 {
		t.Errorf("features plan: %+v %q", c.Fields, c.Notes)
	}
}

func TestShrinkIsAnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	tid, v1, st := e.created(proxmox.KindLXC, "nextcloud", lxcSpec)
	v2 := steptest.Decode(t, e.b, proxmox.KindLXC, strings.Replace(lxcSpec, `"size": "8GiB"`, `"size": "4GiB"`, 1))
	_, err := e.tryPlan(owned(tid, v2, v1, st))
	var fe *steps.FieldError
	if !asFieldError(err, &fe) || fe.Field != "rootfs.size" || !strings.Contains(fe.Msg, "shrinking") {
		t.Fatalf("err = %v, want a field error for rootfs.size", err)
	}
}

func TestReplaceAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	tid, v1, st := e.created(proxmox.KindLXC, "blog", lxcSpec)

	// Unprivileged cannot change in place: a replace, with protect in
	// Before from the last applied spec.
	v2 := steptest.Decode(t, e.b, proxmox.KindLXC, strings.Replace(lxcSpec, `"features": {"nesting": true, "keyctl": true}`, `"unprivileged": false, "protect": false`, 1))
	c := e.plan(owned(tid, v2, v1, st))[0]
	if c.Action != steps.Replace || fieldPaths(c)["unprivileged"] != "replace" {
		t.Fatalf("plan: %s %+v", c.Action, c.Fields)
	}
	if b := c.Before.(*proxmox.LXCSpec); !*b.Protect {
		t.Errorf("before.protect = false, want the last applied true")
	}
	e.mustApply(c)
	conf, running, ok := e.sim.GuestConfig(101)
	if !ok || !running || conf["unprivileged"] != "0" {
		t.Fatalf("after replace: ok=%v running=%v unprivileged=%q", ok, running, conf["unprivileged"])
	}

	// Delete: stop, then purge.
	c = e.plan(owned(tid, nil, v2, st))[0]
	if c.Action != steps.Delete || c.Before.(*proxmox.LXCSpec).Protect == nil || *c.Before.(*proxmox.LXCSpec).Protect {
		t.Fatalf("delete plan: %s before=%+v", c.Action, c.Before)
	}
	e.sim.ResetCounters()
	_, ls, err := e.apply(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.sim.GuestConfig(101); ok {
		t.Fatal("CT 101 still exists")
	}
	n := e.sim.Counters()
	if n.ByOp["POST /nodes/{node}/lxc/{vmid}/status/stop"] != 1 || n.ByOp["DELETE /nodes/{node}/lxc/{vmid}"] != 1 {
		t.Errorf("calls = %+v\n%s", n.ByOp, strings.Join(ls, "\n"))
	}
	for _, r := range e.sim.Requests() {
		if r.Method == "DELETE" && r.Params["purge"] != "1" {
			t.Errorf("delete without purge: %+v", r.Params)
		}
	}
	if c := e.plan(owned(tid, nil, v2, st))[0]; c.Action != steps.NoOp {
		t.Errorf("after delete: %s", c.Action)
	}

	// The same delete again (a retry after the guest went): PVE answers
	// "Configuration file … does not exist", which is success, not an error.
	e.sim.ResetCounters()
	if _, ls, err = e.apply(c); err != nil || !strings.Contains(strings.Join(ls, "\n"), "CT 101 is already gone") {
		t.Errorf("delete of a deleted guest: err=%v progress=%q", err, ls)
	}
	if n := e.sim.Counters(); n.ByOp["DELETE /nodes/{node}/lxc/{vmid}"] != 0 || n.Total != 1 {
		t.Errorf("delete of a deleted guest made calls %+v, want one status read", n.ByOp)
	}
}

func asFieldError(err error, fe **steps.FieldError) bool {
	for err != nil {
		if f, ok := err.(*steps.FieldError); ok { //nolint:errorlint // walking the chain by hand
			*fe = f
			return true
		}
		u, ok := err.(interface{ Unwrap() error }) //nolint:errorlint // see above
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
