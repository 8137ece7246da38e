package sim_test

import (
	"context"
	"strings"
	"testing"

	proxmox "github.com/luthermonson/go-proxmox"

	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

func TestReadEndpoints(t *testing.T) {
	t.Parallel()
	e, _ := newEnvWithCT(t, 101)
	ctx := context.Background()

	nodes, err := e.client.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].Node != "pve" || nodes[0].Status != "online" || nodes[0].MaxMem != 48<<30 || nodes[0].MaxCPU != 8 {
		t.Errorf("nodes = %+v", nodes[0])
	}
	n := e.node(t)
	if n.Memory.Total != 48<<30 || n.CPUInfo.CPUs != 8 || !strings.HasPrefix(n.PVEVersion, "pve-manager/9.") || n.Uptime == 0 {
		t.Errorf("node status = %+v", n)
	}
	storages, err := n.Storages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range storages {
		got[s.Name] = s.Type + " " + s.Content
	}
	want := map[string]string{"local": "dir vztmpl,iso,backup", "local-zfs": "zfspool images,rootdir", "local-lvm": "lvmthin images,rootdir"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("storage %s = %q, want %q", k, got[k], v)
		}
	}
	tmpls, err := n.Appliances(ctx)
	_ = tmpls // aplinfo is not simulated; the call must fail cleanly
	if err == nil || !strings.HasPrefix(err.Error(), "501 ") {
		t.Errorf("aplinfo: %v", err)
	}
	vms, err := n.VirtualMachines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 1 || !bool(vms[0].Template) || vms[0].Name != "debian-12-cloudinit" {
		t.Errorf("vms = %+v", vms)
	}
	cts, err := n.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cts) != 1 || uint64(cts[0].VMID) != 101 || cts[0].Name != "ct101" || cts[0].Status != "stopped" {
		t.Errorf("containers = %+v", cts)
	}

	// task log
	ct, err := n.Container(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ct.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, task, "OK")
	log, err := task.Log(ctx, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if log[len(log)-1] != "TASK OK" {
		t.Errorf("task log = %v", log)
	}

	// pools
	if err := e.client.Post(ctx, "/pools", map[string]string{"poolid": "web", "comment": "web servers"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Post(ctx, "/pools", map[string]string{"poolid": "web"}, nil); err == nil || err.Error() != "500 create pool failed: pool 'web' already exists" {
		t.Errorf("duplicate pool: %v", err)
	}
	var pools []map[string]any
	if err := e.client.Get(ctx, "/pools", &pools); err != nil || len(pools) != 1 || pools[0]["poolid"] != "web" {
		t.Errorf("pools = %v, %v", pools, err)
	}
}

func TestOfflineAndUnknownNode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{})
	ctx := context.Background()
	if err := e.sim.AddNode("pve2", 4, 16<<30); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.SetNodeOnline("pve2", false); err != nil {
		t.Fatal(err)
	}
	cl, err := e.client.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Nodes) != 2 || cl.Quorate != 1 {
		t.Errorf("cluster = %+v", cl)
	}
	for _, ns := range cl.Nodes {
		if ns.Name == "pve2" && ns.Online != 0 {
			t.Errorf("pve2 online = %d", ns.Online)
		}
	}
	// Calls proxied to an offline node get pveproxy's 595, which go-proxmox
	// surfaces as a decode error.
	offline := (&proxmox.Node{}).New(e.client, "pve2")
	if _, err := offline.Containers(ctx); err == nil {
		t.Error("listing containers on an offline node should fail")
	}
	if r := e.sim.Requests(); r[len(r)-1].Status != 595 {
		t.Errorf("status = %d, want 595", r[len(r)-1].Status)
	}
	unknown := (&proxmox.Node{}).New(e.client, "ghost")
	if _, err := unknown.Containers(ctx); err == nil || !strings.Contains(err.Error(), "hostname lookup 'ghost' failed") {
		t.Errorf("unknown node: %v", err)
	}
}

func TestHTTPServerIsHTTP1(t *testing.T) {
	t.Parallel()
	s, err := sim.New(sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	srv := s.HTTPServer("127.0.0.1:8006")
	if srv.Handler != s || srv.TLSNextProto == nil || len(srv.TLSNextProto) != 0 || srv.Addr != "127.0.0.1:8006" {
		t.Errorf("server = %+v, want HTTP/1.1 only", srv)
	}
}
