package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

func TestCloneVMTemplate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{TaskDuration: 10 * time.Millisecond})
	ctx := context.Background()
	if err := e.sim.AddNode("pve2", 4, 16<<30); err != nil {
		t.Fatal(err)
	}
	tmpl := e.vm(t, sim.HomelabVMTemplate)
	if !bool(tmpl.Template) {
		t.Fatalf("VM %d is not reported as a template: %+v", sim.HomelabVMTemplate, tmpl)
	}
	tests := []struct {
		name      string
		opts      proxmox.VirtualMachineCloneOptions
		wantErr   string
		wantScsi0 string
		wantName  string
	}{
		{name: "linked by default", opts: proxmox.VirtualMachineCloneOptions{NewID: 200, Name: "web"},
			wantScsi0: "local-zfs:base-9000-disk-0/vm-200-disk-0,size=3G", wantName: "web"},
		{name: "full to another storage", opts: proxmox.VirtualMachineCloneOptions{NewID: 201, Full: true, Storage: "local-lvm"},
			wantScsi0: "local-lvm:vm-201-disk-0,size=3G", wantName: "Copy-of-VM-debian-12-cloudinit"},
		{name: "linked with storage refused", opts: proxmox.VirtualMachineCloneOptions{NewID: 202, Storage: "local-lvm"},
			wantErr: "500 parameter 'storage' not allowed for linked clones"},
		{name: "target is the own node", opts: proxmox.VirtualMachineCloneOptions{NewID: 203, Target: "pve"},
			wantScsi0: "local-zfs:base-9000-disk-0/vm-203-disk-0,size=3G", wantName: "Copy-of-VM-debian-12-cloudinit"},
		{name: "other node with local storage refused", opts: proxmox.VirtualMachineCloneOptions{NewID: 204, Target: "pve2"},
			wantErr: "500 can't clone VM to node 'pve2' (VM uses local storage)"},
		{name: "unknown target node", opts: proxmox.VirtualMachineCloneOptions{NewID: 205, Target: "nowhere"},
			wantErr: "500 no such cluster node 'nowhere'"},
		{name: "existing newid refused", opts: proxmox.VirtualMachineCloneOptions{NewID: 9000},
			wantErr: "500 unable to create VM 9000: config file already exists"},
	}
	for _, tc := range tests {
		opts := tc.opts
		newid, task, err := tmpl.Clone(ctx, &opts)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		wait(t, task, "OK")
		vm := e.vm(t, newid)
		cfg := vm.VirtualMachineConfig
		if cfg.SCSIs["scsi0"] != tc.wantScsi0 || cfg.Name != tc.wantName || bool(cfg.Template) || bool(vm.Template) {
			t.Errorf("%s: scsi0=%q name=%q template=%v", tc.name, cfg.SCSIs["scsi0"], cfg.Name, cfg.Template)
		}
		if cfg.Nets["net0"] == tmpl.VirtualMachineConfig.Nets["net0"] || !strings.HasPrefix(cfg.Nets["net0"], "virtio=BC:24:11:") {
			t.Errorf("%s: net0 %q should have a new MAC", tc.name, cfg.Nets["net0"])
		}
		if cfg.CIUser != "debian" || cfg.IPConfigs["ipconfig0"] != "ip=dhcp" {
			t.Errorf("%s: cloud-init not copied: %+v", tc.name, cfg)
		}
	}
	// A template with linked clones cannot be destroyed.
	task, err := tmpl.Delete(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, task, "base volume 'local-zfs:base-9000-disk-0' is still in use by linked cloned")
}

func TestLXCConfigLiveVsPending(t *testing.T) {
	t.Parallel()
	e, ct := newEnvWithCT(t, 110)
	ctx := context.Background()
	wait(t, mustTask(t)(ct.Start(ctx)), "OK")

	// memory is hot-pluggable for containers, hostname a fast-plug option,
	// features needs a restart (pve-container LXC/Config.pm).
	task, err := ct.Config(ctx,
		proxmox.ContainerOption{Name: "memory", Value: 2048},
		proxmox.ContainerOption{Name: "hostname", Value: "renamed"},
		proxmox.ContainerOption{Name: "features", Value: "nesting=1"},
	)
	if err != nil || task != nil {
		t.Fatalf("lxc config PUT is synchronous: task=%v err=%v", task, err)
	}
	pending := readPending(t, e, "lxc", 110)
	if _, ok := pending["memory"]; ok {
		t.Errorf("memory should be applied live, pending = %v", pending)
	}
	if pending["features"] != "nesting=1" {
		t.Errorf("features should be pending, pending = %v", pending)
	}
	current := readConfig(t, e, "lxc", 110, true)
	if current["memory"] != float64(2048) || current["hostname"] != "renamed" || current["features"] != nil {
		t.Errorf("current config = %v", current)
	}
	withPending := readConfig(t, e, "lxc", 110, false)
	if withPending["features"] != "nesting=1" {
		t.Errorf("config with pending values = %v", withPending)
	}
	// status/current follows the live memory.
	if err := ct.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if ct.MaxMem != 2048<<20 {
		t.Errorf("maxmem = %d", ct.MaxMem)
	}
	// A reboot applies the pending change.
	wait(t, mustTask(t)(ct.Reboot(ctx)), "OK")
	if p := readPending(t, e, "lxc", 110); len(p) != 0 {
		t.Errorf("pending after reboot = %v", p)
	}
	if cur := readConfig(t, e, "lxc", 110, true); cur["features"] != "nesting=1" {
		t.Errorf("features after reboot = %v", cur["features"])
	}
	// Deleting a non-hot-pluggable key of a running container is pending too.
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "delete", Value: "features"}); err != nil {
		t.Fatal(err)
	}
	if p := readPending(t, e, "lxc", 110); p["features"] != "<delete>" {
		t.Errorf("pending delete = %v", p)
	}
	if cfg := readConfig(t, e, "lxc", 110, false); cfg["features"] != nil {
		t.Errorf("config with pending values still has features: %v", cfg)
	}
	// A stopped container applies changes at once.
	wait(t, mustTask(t)(ct.Stop(ctx)), "OK")
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "swap", Value: 0}, proxmox.ContainerOption{Name: "delete", Value: "features"}); err != nil {
		t.Fatal(err)
	}
	cur := readConfig(t, e, "lxc", 110, true)
	if cur["swap"] != float64(0) || cur["features"] != nil {
		t.Errorf("stopped update = %v", cur)
	}
}

func TestQemuConfigLiveVsPending(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{TaskDuration: 5 * time.Millisecond})
	ctx := context.Background()
	wait(t, mustTask(t)(e.node(t).NewVirtualMachine(ctx, 120,
		proxmox.VirtualMachineOption{Name: "name", Value: "db"},
		proxmox.VirtualMachineOption{Name: "memory", Value: "4096"},
		proxmox.VirtualMachineOption{Name: "cores", Value: 2},
		proxmox.VirtualMachineOption{Name: "scsi0", Value: "local-lvm:16,discard=on"},
		proxmox.VirtualMachineOption{Name: "net0", Value: "virtio,bridge=vmbr0"},
		proxmox.VirtualMachineOption{Name: "ide2", Value: "local-lvm:cloudinit"},
		proxmox.VirtualMachineOption{Name: "ipconfig0", Value: "ip=10.0.0.5/24,gw=10.0.0.1"},
		proxmox.VirtualMachineOption{Name: "sshkeys", Value: proxmox.EncodeSSHKeys("ssh-ed25519 AAAA test@host")},
		proxmox.VirtualMachineOption{Name: "start", Value: 1},
	)), "OK")
	vm := e.vm(t, 120)
	if vm.Status != "running" || vm.CPUs != 2 || vm.MaxMem != 4096<<20 || vm.MaxDisk != 16<<30 || vm.Uptime > 5 {
		t.Errorf("status = %+v", vm)
	}
	cfg := vm.VirtualMachineConfig
	if cfg.SCSIs["scsi0"] != "local-lvm:vm-120-disk-0,discard=on,size=16G" || cfg.IDEs["ide2"] != "local-lvm:vm-120-cloudinit,media=cdrom" ||
		!strings.HasPrefix(cfg.Nets["net0"], "virtio=BC:24:11:") || cfg.Memory != 4096 || cfg.Cores == nil || *cfg.Cores != 2 {
		t.Errorf("config = %+v", cfg)
	}

	// async POST: cores is not hot-pluggable by default (hotplug
	// network,disk,usb), name is a fast-plug option, ipconfig a cloud-init one.
	task, err := vm.Config(ctx,
		proxmox.VirtualMachineOption{Name: "cores", Value: 4},
		proxmox.VirtualMachineOption{Name: "name", Value: "db2"},
		proxmox.VirtualMachineOption{Name: "ipconfig0", Value: "ip=10.0.0.6/24,gw=10.0.0.1"},
		proxmox.VirtualMachineOption{Name: "net1", Value: "virtio,bridge=vmbr1"},
	)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, task, "OK")
	cur := readConfig(t, e, "qemu", 120, true)
	if cur["cores"] != float64(2) || cur["name"] != "db2" || cur["ipconfig0"] != "ip=10.0.0.6/24,gw=10.0.0.1" || cur["net1"] == nil {
		t.Errorf("current = %v", cur)
	}
	if p := readPending(t, e, "qemu", 120); p["cores"] != float64(4) || len(p) != 1 {
		t.Errorf("pending = %v", p)
	}
	var ci []map[string]any
	if err := e.client.Get(ctx, "/nodes/pve/qemu/120/cloudinit", &ci); err != nil {
		t.Fatal(err)
	}
	ciPending := false
	for _, it := range ci {
		ciPending = ciPending || (it["key"] == "ipconfig0" && it["pending"] == "ip=10.0.0.6/24,gw=10.0.0.1" && it["value"] == "ip=10.0.0.5/24,gw=10.0.0.1")
	}
	if !ciPending {
		t.Errorf("cloudinit = %v", ci)
	}
	// sync PUT, same rules.
	if err := vm.ConfigSync(ctx, proxmox.VirtualMachineOption{Name: "memory", Value: "8192"}); err != nil {
		t.Fatal(err)
	}
	if p := readPending(t, e, "qemu", 120); p["memory"] != "8192" {
		t.Errorf("memory should be pending without memory hotplug: %v", p)
	}
	// stop + start applies all pending changes and regenerates cloud-init.
	wait(t, mustTask(t)(vm.Stop(ctx)), "OK")
	wait(t, mustTask(t)(vm.Start(ctx)), "OK")
	if p := readPending(t, e, "qemu", 120); len(p) != 0 {
		t.Errorf("pending after restart = %v", p)
	}
	if err := vm.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if vm.CPUs != 4 || vm.MaxMem != 8192<<20 {
		t.Errorf("after restart cpus=%d maxmem=%d", vm.CPUs, vm.MaxMem)
	}
}

func mustTask(t testing.TB) func(*proxmox.Task, error) *proxmox.Task {
	return func(task *proxmox.Task, err error) *proxmox.Task {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return task
	}
}

func readConfig(t testing.TB, e *env, typ string, vmid int, current bool) map[string]any {
	t.Helper()
	var out map[string]any
	p := fmt.Sprintf("/nodes/pve/%s/%d/config", typ, vmid)
	if current {
		p += "?current=1"
	}
	if err := e.client.Get(context.Background(), p, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// readPending returns key → pending value (or "<delete>") for pending keys.
func readPending(t testing.TB, e *env, typ string, vmid int) map[string]any {
	t.Helper()
	var items []map[string]any
	if err := e.client.Get(context.Background(), fmt.Sprintf("/nodes/pve/%s/%d/pending", typ, vmid), &items); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, it := range items {
		k, _ := it["key"].(string)
		if p, ok := it["pending"]; ok {
			out[k] = p
		}
		if _, ok := it["delete"]; ok {
			out[k] = "<delete>"
		}
	}
	return out
}

func TestPowerCycle(t *testing.T) {
	t.Parallel()
	_, ct := newEnvWithCT(t, 130)
	ctx := context.Background()
	// A stopped container cannot be stopped: the API refuses before forking.
	if _, err := ct.Stop(ctx); err == nil || err.Error() != "500 CT 130 not running" {
		t.Errorf("stop stopped CT: %v", err)
	}
	steps := []struct {
		do   func() (*proxmox.Task, error)
		want string
	}{
		{func() (*proxmox.Task, error) { return ct.Start(ctx) }, "running"},
		{func() (*proxmox.Task, error) { return ct.Shutdown(ctx, false, 10) }, "stopped"},
		{func() (*proxmox.Task, error) { return ct.Start(ctx) }, "running"},
		{func() (*proxmox.Task, error) { return ct.Reboot(ctx) }, "running"},
		{func() (*proxmox.Task, error) { return ct.Stop(ctx) }, "stopped"},
	}
	for i, st := range steps {
		wait(t, mustTask(t)(st.do()), "OK")
		if err := ct.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if ct.Status != st.want {
			t.Errorf("step %d: status %q, want %q", i, ct.Status, st.want)
		}
	}
	// Once a start has finished (not while its task runs), another start
	// is refused.
	wait(t, mustTask(t)(ct.Start(ctx)), "OK")
	if _, err := ct.Start(ctx); err == nil || err.Error() != "500 CT 130 already running" {
		t.Errorf("second start: %v", err)
	}
}

func TestMemoryLargerThanNode(t *testing.T) {
	t.Parallel()
	e, ct := newEnvWithCT(t, 140, proxmox.ContainerOption{Name: "memory", Value: 64 * 1024})
	ctx := context.Background()
	wait(t, mustTask(t)(ct.Start(ctx)), "start failed: CT 140 needs 65536 MiB of memory, node 'pve' has 49152 MiB")

	// With start=1 the failed start is a warning of the create task; the
	// guest stays, stopped. go-proxmox reports WARNINGS as not successful.
	task, err := e.node(t).NewVirtualMachine(ctx, 141,
		proxmox.VirtualMachineOption{Name: "memory", Value: "65536"},
		proxmox.VirtualMachineOption{Name: "start", Value: 1})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, task, "WARNINGS: 1")
	if task.IsSuccessful {
		t.Error("go-proxmox counts WARNINGS as success now; update docs/api-facts.md §2")
	}
	if _, running, ok := e.sim.GuestConfig(141); !ok || running {
		t.Errorf("VM 141 exists=%v running=%v, want created and stopped", ok, running)
	}
	log, err := task.Log(ctx, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(log), "kvm: cannot set up guest memory 'pc.ram': Cannot allocate memory") {
		t.Errorf("task log = %v", log)
	}
}

func TestResize(t *testing.T) {
	t.Parallel()
	e, _ := newEnvWithCT(t, 150)
	ctx := context.Background()
	tests := []struct {
		typ, disk, size string
		wantExit        string
		wantDisk        string
	}{
		{"lxc", "rootfs", "+2G", "OK", "local-zfs:subvol-150-disk-0,size=10G"},
		{"lxc", "rootfs", "12G", "OK", "local-zfs:subvol-150-disk-0,size=12G"},
		{"lxc", "rootfs", "4G", "unable to shrink disk size", "local-zfs:subvol-150-disk-0,size=12G"},
		{"lxc", "mp0", "+1G", "disk 'mp0' does not exist", ""},
	}
	for _, tc := range tests {
		var upid proxmox.UPID
		err := e.client.Put(ctx, "/nodes/pve/lxc/150/resize", map[string]string{"disk": tc.disk, "size": tc.size}, &upid)
		if err != nil {
			t.Fatal(err)
		}
		wait(t, proxmox.NewTask(upid, e.client), tc.wantExit)
		if tc.wantDisk != "" {
			if got := readConfig(t, e, "lxc", 150, true)["rootfs"]; got != tc.wantDisk {
				t.Errorf("resize %s %s: rootfs = %v, want %s", tc.disk, tc.size, got, tc.wantDisk)
			}
		}
	}
	// qemu through go-proxmox's ResizeDisk.
	vm := e.vm(t, sim.HomelabVMTemplate)
	wait(t, mustTask(t)(vm.ResizeDisk(ctx, "scsi0", "+1G")), "OK")
	wait(t, mustTask(t)(vm.ResizeDisk(ctx, "scsi0", "1G")), "shrinking disks is not supported")
	if got := readConfig(t, e, "qemu", sim.HomelabVMTemplate, true)["scsi0"]; got != "local-zfs:base-9000-disk-0,size=4G" {
		t.Errorf("scsi0 = %v", got)
	}
	// A malformed size is a parameter error.
	_, err := vm.ResizeDisk(ctx, "scsi0", "-1G")
	if err == nil || !strings.Contains(err.Error(), "bad request") || !strings.Contains(err.Error(), `"size"`) {
		t.Errorf("malformed size: %v", err)
	}
}

func TestDeleteWithPurge(t *testing.T) {
	t.Parallel()
	e, ct := newEnvWithCT(t, 160, proxmox.ContainerOption{Name: "mp0", Value: "local-lvm:2,mp=/srv"})
	ctx := context.Background()
	wait(t, mustTask(t)(ct.Start(ctx)), "OK")
	if _, err := ct.Delete(ctx, &proxmox.ContainerDeleteOptions{Purge: true}); err == nil || err.Error() != "500 unable to destroy CT 160 - container is running" {
		t.Errorf("delete running: %v", err)
	}
	wait(t, mustTask(t)(ct.Delete(ctx, &proxmox.ContainerDeleteOptions{Purge: true, Force: true, DestroyUnreferencedDisks: true})), "OK")
	if _, _, ok := e.sim.GuestConfig(160); ok {
		t.Error("CT 160 still exists")
	}
	if _, err := e.node(t).Container(ctx, 160); err == nil || !strings.Contains(err.Error(), "Configuration file 'nodes/pve/lxc/160.conf' does not exist") {
		t.Errorf("read deleted CT: %v", err)
	}
	for _, stName := range []string{"local-zfs", "local-lvm"} {
		st, err := e.node(t).Storage(ctx, stName)
		if err != nil {
			t.Fatal(err)
		}
		content, err := st.GetContent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range content {
			if c.VMID == 160 {
				t.Errorf("volume %s survived the delete", c.Volid)
			}
		}
	}
	// Protected guests are refused before any task.
	ct = createCT(t, e, 161, proxmox.ContainerOption{Name: "protection", Value: 1})
	if _, err := ct.Delete(ctx, nil); err == nil || err.Error() != "500 can't remove CT 161 - protection mode enabled" {
		t.Errorf("delete protected: %v", err)
	}
}

func TestLockContention(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{TaskDuration: 400 * time.Millisecond, LockTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	createCT(t, e, 170)
	wait(t, mustTask(t)(e.node(t).NewVirtualMachine(ctx, 171, proxmox.VirtualMachineOption{Name: "memory", Value: "1024"})), "OK")
	ct, err := e.node(t).Container(ctx, 170)
	if err != nil {
		t.Fatal(err)
	}
	vm := e.vm(t, 171)
	first := mustTask(t)(ct.Start(ctx))
	vmFirst := mustTask(t)(vm.Start(ctx))

	// A synchronous update takes the lock in the API call: HTTP 500 with
	// the lock text in the reason phrase.
	_, err = ct.Config(ctx, proxmox.ContainerOption{Name: "cores", Value: 4})
	if err == nil || err.Error() != "500 can't lock file '/run/lock/lxc/pve-config-170.lock' - got timeout" {
		t.Errorf("sync update on busy CT: %v", err)
	}
	err = vm.ConfigSync(ctx, proxmox.VirtualMachineOption{Name: "cores", Value: 4})
	if err == nil || err.Error() != "500 can't lock file '/var/lock/qemu-server/lock-171.conf' - got timeout" {
		t.Errorf("sync update on busy VM: %v", err)
	}
	// An async operation waits in its worker: the task fails.
	second := mustTask(t)(vm.Shutdown(ctx))
	wait(t, second, "can't lock file '/var/lock/qemu-server/lock-171.conf' - got timeout")
	wait(t, first, "OK")
	wait(t, vmFirst, "OK")
	// The lock is free again.
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "cores", Value: 4}); err != nil {
		t.Errorf("update after the task: %v", err)
	}
}

func TestLockWaitSucceedsWithinTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{TaskDuration: 30 * time.Millisecond, LockTimeout: 5 * time.Second})
	ctx := context.Background()
	ct := createCT(t, e, 175)
	first := mustTask(t)(ct.Start(ctx))
	second := mustTask(t)(ct.Resize(ctx, "rootfs", "+1G"))
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "cores", Value: 3}); err != nil {
		t.Errorf("update waiting for the lock: %v", err)
	}
	wait(t, first, "OK")
	wait(t, second, "OK")
}

func TestNextIDRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{TaskDuration: 50 * time.Millisecond})
	ctx := context.Background()
	cl, err := e.client.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := cl.NextID(ctx)
	if err != nil || id != 100 {
		t.Fatalf("nextid = %d, %v", id, err)
	}
	if free, err := cl.CheckID(ctx, sim.HomelabVMTemplate); err != nil || free {
		t.Errorf("CheckID(9000) = %v, %v; want taken", free, err)
	}
	// Two runners pick the same free ID and both create: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	tasks := make([]*proxmox.Task, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tasks[i], errs[i] = e.node(t).NewContainer(ctx, id,
				proxmox.ContainerOption{Name: "ostemplate", Value: sim.HomelabLXCTemplate},
				proxmox.ContainerOption{Name: "storage", Value: "local-zfs"})
		}()
	}
	wg.Wait()
	ok, failed := 0, 0
	for i := range 2 {
		switch {
		case errs[i] == nil:
			ok++
			wait(t, tasks[i], "OK")
		case errs[i].Error() == fmt.Sprintf("500 CT %d already exists on node 'pve'", id):
			failed++
		default:
			t.Errorf("unexpected error: %v", errs[i])
		}
	}
	if ok != 1 || failed != 1 {
		t.Errorf("ok=%d failed=%d, want one each", ok, failed)
	}
	if next, err := cl.NextID(ctx); err != nil || next != id+1 {
		t.Errorf("nextid after create = %d, %v", next, err)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	e, ct := newEnvWithCT(t, 180)
	ctx := context.Background()
	tests := []struct {
		name    string
		arm     func()
		call    func() error
		wantErr string
	}{
		{"595 on read", func() {
			e.sim.FailNext("GET /nodes/{node}/lxc/{vmid}/status/current", sim.Fault{Status: 595, Message: "Connection refused"}, 1)
		},
			func() error { return ct.Ping(ctx) }, "unexpected end of JSON input"},
		{"596 by path glob", func() {
			e.sim.FailNext("/nodes/*/lxc/*/config", sim.Fault{Status: 596, Message: "Connection timed out"}, 1)
		},
			func() error { _, err := e.node(t).Container(ctx, 180); return err }, "unexpected end of JSON input"},
		{"500 lock timeout", func() {
			e.sim.FailNext("POST /nodes/{node}/lxc/{vmid}/status/start", sim.Fault{Status: 500, Message: "can't lock file '/run/lock/lxc/pve-config-180.lock' - got timeout"}, 1)
		}, func() error { _, err := ct.Start(ctx); return err }, "500 can't lock file '/run/lock/lxc/pve-config-180.lock' - got timeout"},
		{"connection reset", func() { e.sim.FailNext("POST /nodes/pve/lxc/180/status/start", sim.Fault{Status: sim.StatusReset}, 1) },
			func() error { _, err := ct.Start(ctx); return err }, "EOF"},
	}
	for _, tc := range tests {
		tc.arm()
		err := tc.call()
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	// Faults are one-shot: the guest was never started.
	if err := ct.Ping(ctx); err != nil || ct.Status != "stopped" {
		t.Errorf("after faults: %v %s", err, ct.Status)
	}
	// Every call is logged with the status it got, faults included.
	statuses := map[int]int{}
	for _, r := range e.sim.Requests() {
		if strings.Contains(r.Path, "/lxc/180/") {
			statuses[r.Status]++
		}
	}
	want := map[int]int{200: 4, 595: 1, 596: 1, 500: 1, sim.StatusReset: 1}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Errorf("logged statuses = %v, want %v", statuses, want)
	}
}

func TestFaultRate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{FaultRate: 1, FaultKinds: []sim.FaultKind{sim.Fault596}, Seed: 7})
	_, err := e.client.Nodes(context.Background())
	if err == nil {
		t.Fatal("want an error with FaultRate 1")
	}
	if c := e.sim.Requests(); len(c) != 1 || c[0].Status != 596 {
		t.Errorf("requests = %+v", c)
	}
}

func TestSchemaValidation(t *testing.T) {
	t.Parallel()
	e, _ := newEnvWithCT(t, 190)
	ctx := context.Background()
	tests := []struct {
		name      string
		method    string
		path      string
		body      map[string]any
		wantErr   string
		wantParam string
	}{
		{"unknown parameter", "PUT", "/nodes/pve/lxc/190/config", map[string]any{"bogus": 1},
			"property is not defined in schema and the schema does not allow additional properties", "bogus"},
		{"integer", "PUT", "/nodes/pve/lxc/190/config", map[string]any{"memory": "lots"},
			"type check ('integer') failed - got 'lots'", "memory"},
		{"minimum", "PUT", "/nodes/pve/lxc/190/config", map[string]any{"memory": 8},
			"value must have a minimum value of 16", "memory"},
		{"boolean", "PUT", "/nodes/pve/lxc/190/config", map[string]any{"onboot": "maybe"},
			"type check ('boolean') failed - got 'maybe'", "onboot"},
		{"enum", "PUT", "/nodes/pve/lxc/190/config", map[string]any{"ostype": "windows"},
			"value 'windows' does not have a value in the enumeration", "ostype"},
		{"indexed key beyond the limit", "PUT", "/nodes/pve/qemu/9000/config", map[string]any{"scsi31": "local-lvm:1"},
			"property is not defined in schema", "scsi31"},
		{"property string key", "PUT", "/nodes/pve/lxc/190/config", map[string]any{"net1": "name=eth1,colour=blue"},
			"invalid format - invalid key in comma-separated list property: colour", "net1"},
		{"property string value", "PUT", "/nodes/pve/lxc/190/config", map[string]any{"net1": "name=eth1,tag=99999"},
			"net1.tag: value must have a maximum value of 4094", "net1"},
		{"missing required", "POST", "/nodes/pve/lxc", map[string]any{"vmid": 191},
			"property is missing and it is not optional", "ostemplate"},
		{"vmid format", "GET", "/cluster/nextid?vmid=42", nil,
			"invalid format - value does not look like a valid VM ID", "vmid"},
		{"maximum", "PUT", "/nodes/pve/lxc/190/config", map[string]any{"tty": 9},
			"value must have a maximum value of 6", "tty"},
		{"dns name", "PUT", "/nodes/pve/lxc/190/config", map[string]any{"hostname": "not_a_name"},
			"value does not look like a valid DNS name", "hostname"},
	}
	for _, tc := range tests {
		var err error
		switch tc.method {
		case "PUT":
			err = e.client.Put(ctx, tc.path, tc.body, nil)
		case "POST":
			err = e.client.Post(ctx, tc.path, tc.body, nil)
		case "GET":
			err = e.client.Get(ctx, tc.path, nil)
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "bad request: 400 Parameter verification failed.") || !strings.Contains(msg, tc.wantErr) {
			t.Errorf("%s: err = %v", tc.name, msg)
		}
		// The errors object names the parameter.
		_, errorsJSON, _ := strings.Cut(msg, " - ")
		var errs map[string]string
		if jerr := json.Unmarshal([]byte(errorsJSON), &errs); jerr != nil || errs[tc.wantParam] == "" {
			t.Errorf("%s: errors %q do not name %q", tc.name, errorsJSON, tc.wantParam)
		}
	}
	// Valid pattern-indexed keys pass.
	if err := e.client.Put(ctx, "/nodes/pve/lxc/190/config", map[string]any{"net1": "name=eth1,bridge=vmbr0,tag=10", "mp3": "local-lvm:1,mp=/data"}, nil); err != nil {
		t.Errorf("valid indexed keys: %v", err)
	}
	// Unknown paths and methods are 501 like pve-manager's rest_handler.
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/nodes/pve/frobnicate", "501 Method 'GET /nodes/pve/frobnicate' not implemented"},
		{"DELETE", "/version", "501 Method 'DELETE /version' not implemented"},
	} {
		var err error
		if tc.method == "GET" {
			err = e.client.Get(ctx, tc.path, nil)
		} else {
			err = e.client.Delete(ctx, tc.path, nil)
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
		}
	}
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	e, _ := newEnvWithCT(t, 195)
	ctx := context.Background()
	snap, err := e.sim.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := newEnv(t, sim.Options{})
	if err := other.sim.Restore(snap); err != nil {
		t.Fatal(err)
	}
	ct, err := other.node(t).Container(ctx, 195)
	if err != nil {
		t.Fatal(err)
	}
	if ct.ContainerConfig.Hostname != "ct195" {
		t.Errorf("restored hostname = %q", ct.ContainerConfig.Hostname)
	}
	if err := other.sim.Restore([]byte(`{"nodes":{"x":{"name":"y"}}}`)); err == nil {
		t.Error("restore of a malformed snapshot should fail")
	}
}

func TestLXCTemplateAndClone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{TaskDuration: 5 * time.Millisecond})
	ctx := context.Background()
	ct := createCT(t, e, 300, proxmox.ContainerOption{Name: "mp0", Value: "local-lvm:2,mp=/srv"})
	// A full clone of a normal container.
	newid, task, err := ct.Clone(ctx, &proxmox.ContainerCloneOptions{NewID: 301, Hostname: "copy"})
	if err != nil || newid != 301 {
		t.Fatalf("clone: %d %v", newid, err)
	}
	wait(t, task, "OK")
	cfg := readConfig(t, e, "lxc", 301, true)
	if cfg["hostname"] != "copy" || cfg["rootfs"] != "local-zfs:subvol-301-disk-0,size=8G" || cfg["mp0"] != "local-lvm:vm-301-disk-0,mp=/srv,size=2G" {
		t.Errorf("full clone config = %v", cfg)
	}
	// Convert to a template (synchronous for containers), then clone linked.
	if err := ct.Template(ctx); err != nil {
		t.Fatal(err)
	}
	cfg = readConfig(t, e, "lxc", 300, true)
	if cfg["template"] != float64(1) || cfg["rootfs"] != "local-zfs:basevol-300-disk-0,size=8G" {
		t.Errorf("template config = %v", cfg)
	}
	wait(t, mustTask(t)(ct.Start(ctx)), "you can't start a CT if it's a template")
	_, task, err = ct.Clone(ctx, &proxmox.ContainerCloneOptions{NewID: 302, Hostname: "linked"})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, task, "OK")
	cfg = readConfig(t, e, "lxc", 302, true)
	if cfg["rootfs"] != "local-zfs:basevol-300-disk-0/subvol-302-disk-0,size=8G" || cfg["template"] != nil {
		t.Errorf("linked clone config = %v", cfg)
	}
	if n1, n2 := readConfig(t, e, "lxc", 300, true)["net0"], cfg["net0"]; n1 == n2 {
		t.Errorf("clone kept the MAC: %v", n2)
	}
}

func TestDigestAndRevert(t *testing.T) {
	t.Parallel()
	e, ct := newEnvWithCT(t, 310)
	ctx := context.Background()
	digest := ct.ContainerConfig.Digest
	if len(digest) != 40 {
		t.Fatalf("digest = %q", digest)
	}
	// A stale digest is refused (PVE::Tools::assert_if_modified).
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "cores", Value: 3}); err != nil {
		t.Fatal(err)
	}
	_, err := ct.Config(ctx, proxmox.ContainerOption{Name: "cores", Value: 4}, proxmox.ContainerOption{Name: "digest", Value: digest})
	if err == nil || err.Error() != "500 detected modified configuration - file changed by other user? Try again." {
		t.Errorf("stale digest: %v", err)
	}
	// Setting and deleting the same key at once is a parameter error.
	_, err = ct.Config(ctx, proxmox.ContainerOption{Name: "cores", Value: 4}, proxmox.ContainerOption{Name: "delete", Value: "cores"})
	if err == nil || !strings.Contains(err.Error(), `"delete"`) {
		t.Errorf("set and delete: %v", err)
	}
	// revert drops a pending change of a running container.
	wait(t, mustTask(t)(ct.Start(ctx)), "OK")
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "features", Value: "nesting=1"}); err != nil {
		t.Fatal(err)
	}
	if p := readPending(t, e, "lxc", 310); p["features"] != "nesting=1" {
		t.Fatalf("pending = %v", p)
	}
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "revert", Value: "features"}); err != nil {
		t.Fatal(err)
	}
	if p := readPending(t, e, "lxc", 310); len(p) != 0 {
		t.Errorf("pending after revert = %v", p)
	}
	// Re-sending the current value of a non-hot-pluggable key leaves
	// nothing pending (cleanup_pending), so a no-op apply needs no reboot.
	if _, err := ct.Config(ctx, proxmox.ContainerOption{Name: "unprivileged", Value: 1}, proxmox.ContainerOption{Name: "arch", Value: "amd64"}); err != nil {
		t.Fatal(err)
	}
	if p := readPending(t, e, "lxc", 310); len(p) != 0 {
		t.Errorf("pending after a no-op update = %v", p)
	}
}
