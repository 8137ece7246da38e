package sim_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	proxmox "github.com/luthermonson/go-proxmox"

	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

// TestTicketLogin: POST /access/ticket with user and password gives a
// ticket (cookie PVEAuthCookie) and a CSRFPreventionToken that writes need
// (pve-manager HTTPServer.pm auth_handler); tasks a ticket starts carry its
// user. A wrong password is 401 "authentication failure".
func TestTicketLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{Users: map[string]string{"root@pam": "s3cret"}})
	ctx := context.Background()
	c := proxmox.NewClient(e.url, proxmox.WithHTTPClient(e.http), proxmox.WithCredentials(&proxmox.Credentials{Username: "root@pam", Password: "s3cret"}))
	if _, err := c.Version(ctx); err != nil {
		t.Fatalf("version with a ticket: %v", err)
	}
	node, err := c.Node(ctx, sim.HomelabNode)
	if err != nil {
		t.Fatal(err)
	}
	task := mustTask(t)(node.NewContainer(ctx, 120,
		proxmox.ContainerOption{Name: "ostemplate", Value: sim.HomelabLXCTemplate},
		proxmox.ContainerOption{Name: "storage", Value: "local-zfs"}))
	if !strings.HasSuffix(string(task.UPID), ":vzcreate:120:root@pam:") {
		t.Errorf("UPID %s, want the ticket's user root@pam", task.UPID)
	}
	wait(t, task, "OK")

	bad := proxmox.NewClient(e.url, proxmox.WithHTTPClient(e.http), proxmox.WithCredentials(&proxmox.Credentials{Username: "root@pam", Password: "wrong"}))
	if _, err := bad.Version(ctx); err == nil {
		t.Error("a wrong password logged in")
	}
	if r := e.sim.Requests(); r[len(r)-1].Route != "/access/ticket" || r[len(r)-1].Status != http.StatusUnauthorized || r[len(r)-1].Params["password"] != "***" {
		t.Errorf("last request %+v, want a 401 to /access/ticket with the password redacted", r[len(r)-1])
	}

	// The cookie alone does not do for a write: the CSRF token is missing.
	sess, err := c.Ticket(ctx, &proxmox.Credentials{Username: "root@pam", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, csrf string
		want         int
	}{
		{http.MethodGet, "", http.StatusOK},
		{http.MethodPost, "", http.StatusUnauthorized},
		{http.MethodPost, "00000000:forged", http.StatusUnauthorized},
		{http.MethodPost, sess.CSRFPreventionToken, http.StatusOK},
	} {
		req, _ := http.NewRequestWithContext(ctx, tc.method, e.url+"/pools", strings.NewReader("poolid=p"+strings.ToLower(tc.method)+tc.csrf[:min(len(tc.csrf), 2)]))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "PVEAuthCookie", Value: sess.Ticket})
		if tc.csrf != "" {
			req.Header.Set("CSRFPreventionToken", tc.csrf)
		}
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s with CSRF %q: %s, want %d", tc.method, tc.csrf, resp.Status, tc.want)
		}
		if tc.want == http.StatusUnauthorized && resp.Status != "401 Permission denied - invalid csrf token" {
			t.Errorf("%s with CSRF %q: reason %q", tc.method, tc.csrf, resp.Status)
		}
	}
}

// TestTaskList: GET /nodes/{node}/tasks lists finished tasks newest first
// (source archive) with status and endtime, running ones with source
// active, and splits a token's user into user and tokenid (pve-manager
// API2/Tasks.pm node_tasks).
func TestTaskList(t *testing.T) {
	t.Parallel()
	e, ct := newEnvWithCT(t, 130)
	ctx := context.Background()
	wait(t, mustTask(t)(ct.Start(ctx)), "OK")
	wait(t, mustTask(t)(ct.Resize(ctx, "rootfs", "4G")), "unable to shrink disk size")

	tasks, err := e.node(t).Tasks(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range tasks {
		got = append(got, tk.Type+" "+tk.ExitStatus+" "+tk.Status+" "+tk.User)
	}
	if len(got) != 3 || !strings.HasPrefix(got[2], "vzcreate") || !strings.HasPrefix(got[1], "vzstart") || !strings.HasPrefix(got[0], "resize") {
		t.Errorf("tasks %q, want the three, newest first", got)
	}
	var raw []map[string]any
	if err := e.client.Get(ctx, "/nodes/pve/tasks?errors=1", &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 1 || raw[0]["status"] != "unable to shrink disk size" || raw[0]["user"] != "runner@pve" || raw[0]["tokenid"] != "gitops" || raw[0]["endtime"] == nil {
		t.Errorf("errors=1: %v, want the failed resize by runner@pve, tokenid gitops", raw)
	}
	if err := e.client.Get(ctx, "/nodes/pve/tasks?typefilter=vzcreate&vmid=130&limit=5", &raw); err != nil || len(raw) != 1 {
		t.Errorf("typefilter+vmid: %v %v", raw, err)
	}

	slow := newEnv(t, sim.Options{TaskDuration: 1 << 40})
	running := mustTask(t)(slow.node(t).NewContainer(ctx, 131,
		proxmox.ContainerOption{Name: "ostemplate", Value: sim.HomelabLXCTemplate},
		proxmox.ContainerOption{Name: "storage", Value: "local-zfs"}))
	for source, want := range map[string]int{"archive": 0, "active": 1, "all": 1} {
		if err := slow.client.Get(ctx, "/nodes/pve/tasks?source="+source, &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) != want || (want == 1 && (raw[0]["status"] != "RUNNING" || raw[0]["upid"] != string(running.UPID))) {
			t.Errorf("source=%s: %v, want %d running", source, raw, want)
		}
	}
}

// TestClusterStorage: GET /storage is storage.cfg (pve-storage
// API2/Storage/Config.pm index): every storage with type, sorted content,
// digest and its type's required property; ?type= filters.
func TestClusterStorage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{})
	ctx := context.Background()
	sts, err := e.client.ClusterStorages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range sts {
		if len(s.Digest) != 40 {
			t.Errorf("%s digest %q", s.Storage, s.Digest)
		}
		got[s.Storage] = s.Type + " " + s.Content + " " + s.Path + s.VgName + "/" + s.Thinpool
	}
	want := map[string]string{
		"local":     "dir backup,iso,vztmpl /var/lib/vz/",
		"local-lvm": "lvmthin images,rootdir pve/data",
		"local-zfs": "zfspool images,rootdir /",
	}
	if len(got) != len(want) {
		t.Errorf("storages %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	var raw []map[string]any
	if err := e.client.Get(ctx, "/storage?type=zfspool", &raw); err != nil || len(raw) != 1 || raw[0]["pool"] != "rpool/data" {
		t.Errorf("type=zfspool: %v %v", raw, err)
	}
}

// TestLXCInterfaces: GET /nodes/{node}/lxc/{vmid}/interfaces answers null
// for a stopped container and lo plus the configured interfaces of a
// running one (pve-container PVE::LXC::get_interfaces).
func TestLXCInterfaces(t *testing.T) {
	t.Parallel()
	e, ct := newEnvWithCT(t, 140, proxmox.ContainerOption{Name: "net0", Value: "name=eth0,bridge=vmbr0,ip=10.42.0.140/24,gw=10.42.0.1,ip6=fd00::140/64"})
	ctx := context.Background()
	ifs, err := ct.Interfaces(ctx)
	if err != nil || ifs != nil {
		t.Errorf("stopped: %v %v, want null", ifs, err)
	}
	wait(t, mustTask(t)(ct.Start(ctx)), "OK")
	ifs, err = ct.Interfaces(ctx)
	if err != nil || len(ifs) != 2 {
		t.Fatalf("running: %+v %v", ifs, err)
	}
	mac := ""
	for _, kv := range strings.Split(readConfig(t, e, "lxc", 140, true)["net0"].(string), ",") {
		if v, ok := strings.CutPrefix(kv, "hwaddr="); ok {
			mac = strings.ToLower(v)
		}
	}
	if lo := ifs[0]; lo.Name != "lo" || lo.Inet != "127.0.0.1/8" || lo.Inet6 != "::1/128" {
		t.Errorf("lo: %+v", lo)
	}
	if eth := ifs[1]; eth.Name != "eth0" || eth.Inet != "10.42.0.140/24" || eth.Inet6 != "fd00::140/64" || eth.HWAddr != mac || !strings.HasPrefix(mac, "bc:24:11:") {
		t.Errorf("eth0: %+v, want 10.42.0.140/24, fd00::140/64 and hwaddr %s", eth, mac)
	}
}
