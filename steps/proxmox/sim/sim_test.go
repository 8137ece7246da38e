package sim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim/simtest"
)

const (
	tokenID     = "runner@pve!gitops"
	tokenSecret = "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5" //nolint:gosec // a test token for the simulator
)

type env struct {
	sim    *sim.Server
	client *proxmox.Client
	url    string
	http   *http.Client
}

// newEnv serves a seeded homelab over HTTPS and returns a go-proxmox client
// that authenticates with an API token.
func newEnv(t testing.TB, opts sim.Options) *env {
	t.Helper()
	opts.Tokens = map[string]string{tokenID: tokenSecret}
	s, ts := simtest.ServeHomelab(t, opts)
	base := ts.URL + "/api2/json"
	hc := ts.Client()
	if tr, ok := hc.Transport.(*http.Transport); ok {
		// keep connections for concurrent callers (the default keeps 2).
		tr.MaxIdleConnsPerHost = 64
	}
	c := proxmox.NewClient(base, proxmox.WithHTTPClient(hc), proxmox.WithAPIToken(tokenID, tokenSecret))
	return &env{sim: s, client: c, url: base, http: hc}
}

// vm reads VM vmid on the homelab node.
func (e *env) vm(t testing.TB, vmid int) *proxmox.VirtualMachine {
	t.Helper()
	vm, err := e.node(t).VirtualMachine(context.Background(), vmid)
	if err != nil {
		t.Fatalf("read VM %d: %v", vmid, err)
	}
	return vm
}

func (e *env) node(t testing.TB) *proxmox.Node {
	t.Helper()
	n, err := e.client.Node(context.Background(), sim.HomelabNode)
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	return n
}

func (e *env) cluster(t testing.TB) *proxmox.Cluster {
	t.Helper()
	cl, err := e.client.Cluster(context.Background())
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	return cl
}

// countedGuests resets the counters, then lists the cluster's guests (the
// call go-proxmox makes for them), so a test can count what that cost.
func (e *env) countedGuests(t testing.TB) proxmox.ClusterResources {
	t.Helper()
	cl := e.cluster(t)
	e.sim.ResetCounters()
	rs, err := cl.Resources(context.Background(), "vm")
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// wait waits for a task and fails the test unless it ended with wantExit.
func wait(t testing.TB, task *proxmox.Task, wantExit string) {
	t.Helper()
	if task == nil {
		t.Fatal("no task returned")
	}
	if err := task.Wait(context.Background(), 5*time.Millisecond, 10*time.Second); err != nil {
		t.Fatalf("wait %s: %v", task.UPID, err)
	}
	if !task.IsCompleted || task.ExitStatus != wantExit {
		t.Fatalf("task %s: completed=%v exitstatus=%q, want %q", task.UPID, task.IsCompleted, task.ExitStatus, wantExit)
	}
}

// newEnvWithCT is a simulator with default options and a container vmid
// created in it (createCT).
func newEnvWithCT(t testing.TB, vmid int, extra ...proxmox.ContainerOption) (*env, *proxmox.Container) {
	t.Helper()
	e := newEnv(t, sim.Options{})
	return e, createCT(t, e, vmid, extra...)
}

func createCT(t testing.TB, e *env, vmid int, extra ...proxmox.ContainerOption) *proxmox.Container {
	t.Helper()
	opts := append([]proxmox.ContainerOption{
		{Name: "ostemplate", Value: sim.HomelabLXCTemplate},
		{Name: "hostname", Value: fmt.Sprintf("ct%d", vmid)},
		{Name: "memory", Value: 1024},
		{Name: "cores", Value: 2},
		{Name: "rootfs", Value: "local-zfs:8"},
		{Name: "net0", Value: "name=eth0,bridge=vmbr0,ip=dhcp"},
	}, extra...)
	task, err := e.node(t).NewContainer(context.Background(), vmid, opts...)
	if err != nil {
		t.Fatalf("create CT %d: %v", vmid, err)
	}
	wait(t, task, "OK")
	ct, err := e.node(t).Container(context.Background(), vmid)
	if err != nil {
		t.Fatalf("read CT %d: %v", vmid, err)
	}
	return ct
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts []proxmox.Option
	}{
		{"wrong secret", []proxmox.Option{proxmox.WithAPIToken(tokenID, "nope")}},
		{"unknown token", []proxmox.Option{proxmox.WithAPIToken("root@pam!other", tokenSecret)}},
		{"no token", nil},
	} {
		c := proxmox.NewClient(e.url, append([]proxmox.Option{proxmox.WithHTTPClient(e.http)}, tc.opts...)...)
		_, err := c.Version(ctx)
		if !errors.Is(err, proxmox.ErrNotAuthorized) {
			t.Errorf("%s: err = %v, want ErrNotAuthorized", tc.name, err)
		}
	}
	v, err := e.client.Version(ctx)
	if err != nil || v.Version == "" {
		t.Fatalf("version with token: %v %+v", err, v)
	}
	if got := e.sim.Counters().ByOp["GET /version"]; got != 4 {
		t.Errorf("GET /version count = %d, want 4", got)
	}
}

func TestClusterResourcesOneCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{})
	for i := 0; i < 100; i++ {
		typ := "lxc"
		conf := map[string]string{"hostname": fmt.Sprintf("guest%d", i), "memory": "512", "rootfs": fmt.Sprintf("local-zfs:subvol-%d-disk-0,size=8G", 1000+i), "tags": "web;prod"}
		if i%2 == 1 {
			typ = "qemu"
			conf = map[string]string{"name": fmt.Sprintf("guest%d", i), "memory": "2048", "cores": "2", "sockets": "2", "scsi0": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=32G", 1000+i)}
		}
		if err := e.sim.AddGuest(sim.GuestSpec{Node: "pve", VMID: 1000 + i, Type: typ, Config: conf, Running: i%3 == 0}); err != nil {
			t.Fatal(err)
		}
	}
	rs := e.countedGuests(t)
	if c := e.sim.Counters(); c.Total != 1 || c.ByOp["GET /cluster/resources"] != 1 {
		t.Errorf("counters = %+v, want one GET /cluster/resources", c)
	}
	if len(rs) != 101 {
		t.Fatalf("got %d resources, want 101 (100 guests + template)", len(rs))
	}
	byID := map[uint64]*proxmox.ClusterResource{}
	for _, r := range rs {
		byID[r.VMID] = r
	}
	tests := []struct {
		vmid           uint64
		typ, name      string
		status         string
		maxmem, maxcpu uint64
		maxdisk        uint64
		template       uint64
	}{
		{1000, "lxc", "guest0", "running", 512 << 20, 8, 8 << 30, 0},
		{1001, "qemu", "guest1", "stopped", 2048 << 20, 4, 32 << 30, 0},
		{9000, "qemu", "debian-12-cloudinit", "stopped", 2048 << 20, 2, 3 << 30, 1},
	}
	for _, tc := range tests {
		r := byID[tc.vmid]
		if r == nil {
			t.Errorf("vmid %d missing", tc.vmid)
			continue
		}
		if r.Type != tc.typ || r.Name != tc.name || r.Status != tc.status || r.MaxMem != tc.maxmem ||
			r.MaxCPU != tc.maxcpu || r.MaxDisk != tc.maxdisk || r.Template != tc.template || r.Node != "pve" ||
			r.ID != fmt.Sprintf("%s/%d", tc.typ, tc.vmid) {
			t.Errorf("vmid %d: got %+v", tc.vmid, r)
		}
	}
	if byID[1000].Tags != "web;prod" || byID[1000].Uptime == 0 && byID[1000].Status != "running" {
		t.Errorf("guest0 tags/uptime: %+v", byID[1000])
	}
	all, err := e.cluster(t).Resources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range all {
		kinds[r.Type]++
	}
	if kinds["node"] != 1 || kinds["storage"] != 3 || kinds["lxc"] != 50 || kinds["qemu"] != 51 {
		t.Errorf("unfiltered resource kinds = %v", kinds)
	}
}

func TestCreateLXC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{TaskDuration: 20 * time.Millisecond})
	ctx := context.Background()
	e.sim.ResetCounters()
	createCT(t, e, 101, proxmox.ContainerOption{Name: "password", Value: "s3cret-pw"}, proxmox.ContainerOption{Name: "features", Value: "nesting=1"})
	if got := e.sim.Counters().ByOp["POST /nodes/{node}/lxc"]; got != 1 {
		t.Errorf("create calls = %d, want 1", got)
	}
	for _, r := range e.sim.Requests() {
		if strings.Contains(fmt.Sprint(r.Params), "s3cret-pw") {
			t.Errorf("password logged: %+v", r)
		}
	}
	ct, err := e.node(t).Container(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ct.ContainerConfig
	if cfg.Hostname != "ct101" || cfg.Memory == nil || *cfg.Memory != 1024 || cfg.Cores != 2 || cfg.OSType != "debian" || !bool(cfg.Unprivileged) || cfg.Features != "nesting=1" {
		t.Errorf("config = %+v", cfg)
	}
	if !strings.HasPrefix(cfg.RootFS, "local-zfs:subvol-101-disk-0") || !strings.Contains(cfg.RootFS, "size=8G") {
		t.Errorf("rootfs = %q", cfg.RootFS)
	}
	if net := cfg.Nets["net0"]; !strings.Contains(net, "hwaddr=BC:24:11:") {
		t.Errorf("net0 = %q, want a generated MAC", net)
	}
	if ct.Status != "stopped" || ct.MaxMem != 1024<<20 || ct.CPUs != 2 || ct.MaxDisk != 8<<30 {
		t.Errorf("status = %+v", ct)
	}
	// The rootfs volume is storage content now.
	st, err := e.node(t).Storage(ctx, "local-zfs")
	if err != nil {
		t.Fatal(err)
	}
	content, err := st.GetContent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range content {
		found = found || (c.Volid == "local-zfs:subvol-101-disk-0" && c.VMID == 101 && c.Size == 8<<30)
	}
	if !found {
		t.Errorf("rootfs volume not in storage content: %+v", content)
	}
}

func TestCreateLXCTaskIsRunningFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{TaskDuration: 200 * time.Millisecond})
	task, err := e.node(t).NewContainer(context.Background(), 102,
		proxmox.ContainerOption{Name: "ostemplate", Value: sim.HomelabLXCTemplate},
		proxmox.ContainerOption{Name: "storage", Value: "local-zfs"})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if task.Status != "running" || task.Type != "vzcreate" || task.ID != "102" || task.Node != "pve" {
		t.Errorf("task = %+v", task)
	}
	// The UPID's user is who asked: for an API token, the token ID
	// (pve-manager PVE/HTTPServer.pm: "the token-ID `<user>@<realm>!<tokenname>`
	// is the user for token based authentication"); the task status splits
	// it into user and tokenid (API2/Tasks.pm $convert_token_task).
	if !strings.HasPrefix(string(task.UPID), "UPID:pve:") || !strings.HasSuffix(string(task.UPID), ":vzcreate:102:"+tokenID+":") {
		t.Errorf("UPID = %s, want the user %s", task.UPID, tokenID)
	}
	if task.User != "runner@pve" {
		t.Errorf("task status user = %q, want runner@pve (the token ID without !gitops)", task.User)
	}
	// While the task runs the guest exists, locked.
	rs, err := (&proxmox.Cluster{}).New(e.client).Resources(context.Background(), "vm")
	if err != nil {
		t.Fatal(err)
	}
	locked := false
	for _, r := range rs {
		if r.VMID == 102 {
			locked = true
		}
	}
	if !locked {
		t.Error("guest 102 not listed while being created")
	}
	wait(t, task, "OK")
	conf, _, ok := e.sim.GuestConfig(102)
	if !ok || conf["lock"] != "" || conf["hostname"] != "CT102" || conf["rootfs"] == "" {
		t.Errorf("config after create = %v", conf)
	}
}
