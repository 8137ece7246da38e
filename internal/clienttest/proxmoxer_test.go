package clienttest

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/tlstest"
	pvesim "github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	pvesimtest "github.com/gitops-runner/gitops-runner/steps/proxmox/sim/simtest"
)

// proxmoxerSeen is what testdata/proxmoxer_lifecycle.py prints.
type proxmoxerSeen struct {
	Tasks             map[string]pveTask     // by step: create, start, stop, delete, clone, vm_start, vm_stop, vm_delete
	Refusals          map[string]*pveRefusal // by step; nil where the call succeeded
	Version           string
	VMID              int
	CreateUPID        string `json:"create_upid"`
	StatusAfterCreate string `json:"status_after_create"`
	Config            map[string]any
	CreateLogTail     []string       `json:"create_log_tail"`
	CloneConfig       map[string]any `json:"clone_config"`
	StatusAfterStart  string         `json:"status_after_start"`
	Resources         map[string]any
	ConfigPut         any            `json:"config_put"`
	CoresAfterPut     any            `json:"cores_after_put"`
	DeleteRunning     map[string]any `json:"delete_running"`
	StatusAfterStop   string         `json:"status_after_stop"`
}

type pveTask struct {
	ExitStatus string `json:"exitstatus"`
	Type       string
	Polls      int
}

// pveRefusal is a proxmoxer ResourceException: the HTTP status, the reason
// phrase (where PVE puts its message) and the per-parameter errors.
type pveRefusal struct {
	Status int
	Reason string
	Errors any
	Text   string
}

func TestProxmoxerContainerLifecycle(t *testing.T) {
	t.Parallel()
	py := needPython(t, "proxmoxer", "python3-proxmoxer")
	needPython(t, "requests", "python3-requests")
	const tokenID, secret = "runner@pve!gitops", "9d3c1f4e-proxmoxer-test"
	_, ts := pvesimtest.ServeHomelab(t, pvesim.Options{
		Tokens:       map[string]string{tokenID: secret},
		TaskDuration: 100 * time.Millisecond,
		LockTimeout:  200 * time.Millisecond,
	}) // proxmoxer (requests) speaks HTTP/1.1: the reason phrase arrives
	ca := tlstest.CAFile(t, ts.Certificate().Raw)

	out := mustRun(t, []string{
		"PVE_HOST=" + strings.TrimPrefix(ts.URL, "https://"),
		"PVE_USER=runner@pve", "PVE_TOKEN_NAME=gitops", "PVE_TOKEN_VALUE=" + secret,
		"PVE_CA=" + ca,
	}, "", py, filepath.Join("testdata", "proxmoxer_lifecycle.py"))
	var seen proxmoxerSeen
	if err := json.Unmarshal([]byte(out), &seen); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	defer func() {
		if t.Failed() {
			t.Logf("proxmoxer saw:\n%s", out)
		}
	}()

	if seen.VMID != 100 {
		t.Errorf("nextid %d, want 100 (the homelab has only template 9000)", seen.VMID)
	}
	// pve-common UPID.pm. PVE writes the token ID as the task's user
	// (pve-manager HTTPServer.pm: "the token-ID `<user>@<realm>!<tokenname>`
	// is the user for token based authentication").
	if !regexp.MustCompile(`^UPID:pve:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:vzcreate:100:runner@pve!gitops:$`).MatchString(seen.CreateUPID) {
		t.Errorf("create UPID %q, want UPID:pve:%%08X:%%08X:%%08X:vzcreate:100:runner@pve!gitops:", seen.CreateUPID)
	}
	// Every task ends OK, with PVE's task type; the wait loop must have met
	// a running task at least once, or it was not tested (a timing fact,
	// but one of eight tasks of 100 ms suffices).
	wantTypes := map[string]string{"create": "vzcreate", "start": "vzstart", "stop": "vzstop", "delete": "vzdestroy",
		"clone": "qmclone", "vm_start": "qmstart", "vm_stop": "qmstop", "vm_delete": "qmdestroy"}
	polls := 0
	for name, typ := range wantTypes {
		task, ok := seen.Tasks[name]
		if !ok || task.ExitStatus != "OK" || task.Type != typ {
			t.Errorf("%s task: %+v, want type %s, exitstatus OK", name, task, typ)
		}
		polls += task.Polls
	}
	if polls == len(wantTypes) {
		t.Errorf("every task had stopped at its first status poll: the wait loop never saw one running")
	}
	if seen.StatusAfterCreate != "stopped" || seen.StatusAfterStart != "running" || seen.StatusAfterStop != "stopped" {
		t.Errorf("status after create/start/stop: %s/%s/%s", seen.StatusAfterCreate, seen.StatusAfterStart, seen.StatusAfterStop)
	}
	if seen.Config["hostname"] != "ct-proxmoxer" || seen.Config["rootfs"] != "local-zfs:subvol-100-disk-0,size=8G" ||
		!strings.Contains(seen.Config["net0"].(string), "hwaddr=BC:24:11:") {
		t.Errorf("config after create: %v", seen.Config)
	}
	// pve-container API2/LXC.pm create_vm calls PVE::Cluster::check_vmid_unused
	// itself, in the API call: "CT 100 already exists on node 'pve'", HTTP 500,
	// without create_and_lock_config's "unable to create CT 100 -" prefix.
	if r := seen.Refusals["create_again"]; r == nil || r.Status != 500 || r.Reason != "CT 100 already exists on node 'pve'" {
		t.Errorf("create on a used VMID: %+v, want 500 \"CT 100 already exists on node 'pve'\"", r)
	}
	// check_vmid_unused names the type of the guest that holds the VMID.
	if r := seen.Refusals["create_on_vm_id"]; r == nil || r.Status != 500 || r.Reason != "VM 9000 already exists on node 'pve'" {
		t.Errorf("create CT on the VMID of VM 9000: %+v, want 500 \"VM 9000 already exists on node 'pve'\"", r)
	}
	if len(seen.CreateLogTail) != 1 || seen.CreateLogTail[0] != "TASK OK" {
		t.Errorf("create task log ends %q, want TASK OK", seen.CreateLogTail)
	}
	// A linked clone of a template (qemu-server API2/Qemu.pm clone_vm: full defaults to 0 for templates).
	if seen.CloneConfig["name"] != "vm-proxmoxer" || !strings.HasPrefix(seen.CloneConfig["scsi0"].(string), "local-zfs:base-9000-disk-0/vm-101-disk-0") ||
		seen.CloneConfig["template"] != nil {
		t.Errorf("clone config: %v", seen.CloneConfig)
	}
	if r := seen.Refusals["delete_missing"]; r == nil || r.Status != 500 || r.Reason != "Configuration file 'nodes/pve/lxc/555.conf' does not exist" {
		t.Errorf("delete of a missing CT: %+v", r)
	}
	// proxmoxer 1.2 looks for "errors" inside "data" (JsonSerializer.loads),
	// where PVE never puts them, so only the reason phrase reaches a script.
	if r := seen.Refusals["create_bad_param"]; r == nil || r.Status != 400 || r.Reason != "Parameter verification failed." {
		t.Errorf("create with memory=lots: %+v, want 400 Parameter verification failed.", r)
	}
	if seen.Resources["status"] != "running" || seen.Resources["name"] != "ct-proxmoxer" || seen.Resources["type"] != "lxc" {
		t.Errorf("/cluster/resources entry: %v", seen.Resources)
	}
	if seen.ConfigPut != nil {
		t.Errorf("LXC config PUT returned %v, want null (synchronous)", seen.ConfigPut)
	}
	if seen.CoresAfterPut != float64(2) {
		t.Errorf("cores after PUT on a running CT: %v, want 2 (hot-plugged)", seen.CoresAfterPut)
	}
	// pve-container API2/LXC.pm destroy_vm checks early, in the API call.
	if seen.DeleteRunning["status"] != float64(500) || seen.DeleteRunning["reason"] != "unable to destroy CT 100 - container is running" {
		t.Errorf("delete of a running CT: %v, want 500 \"unable to destroy CT 100 - container is running\"", seen.DeleteRunning)
	}
	if r := seen.Refusals["config_after_delete"]; r == nil || r.Status != 500 || r.Reason != "Configuration file 'nodes/pve/lxc/100.conf' does not exist" {
		t.Errorf("config after delete: %+v", r)
	}
	if r := seen.Refusals["wrong_token"]; r == nil || r.Status != 401 {
		t.Errorf("wrong token: %+v, want 401", r)
	}
}

// TestProxmoxerTicketLogin: proxmoxer logs in with a password (POST
// /access/ticket, then cookie PVEAuthCookie and, on writes, the
// CSRFPreventionToken header), creates and starts a container, and lists
// the node's tasks (GET /nodes/{node}/tasks), the cluster's storage (GET
// /storage) and the container's interfaces.
func TestProxmoxerTicketLogin(t *testing.T) {
	t.Parallel()
	py := needPython(t, "proxmoxer", "python3-proxmoxer")
	needPython(t, "requests", "python3-requests")
	_, ts := pvesimtest.ServeHomelab(t, pvesim.Options{Users: map[string]string{"root@pam": "hunter2-ticket"}, TaskDuration: 20 * time.Millisecond})
	ca := tlstest.CAFile(t, ts.Certificate().Raw)
	out := mustRun(t, []string{"PVE_HOST=" + strings.TrimPrefix(ts.URL, "https://"), "PVE_USER=root@pam",
		"PVE_PASSWORD=hunter2-ticket", "PVE_CA=" + ca}, "", py, filepath.Join("testdata", "proxmoxer_ticket.py"))
	var seen struct {
		WrongPassword     string         `json:"wrong_password"`
		CreateUPID        string         `json:"create_upid"`
		CreateStatus      map[string]any `json:"create_status"`
		StartStatus       map[string]any `json:"start_status"`
		InterfacesStopped any            `json:"interfaces_stopped"`
		Interfaces        []map[string]any
		Tasks             []map[string]any
		TasksVzstart      []map[string]any `json:"tasks_vzstart"`
		Storage           []map[string]any
		StorageDir        []map[string]any `json:"storage_dir"`
	}
	if err := json.Unmarshal([]byte(out), &seen); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	defer func() {
		if t.Failed() {
			t.Logf("proxmoxer saw:\n%s", out)
		}
	}()
	if !strings.HasPrefix(seen.WrongPassword, "Couldn't authenticate user: root@pam") {
		t.Errorf("wrong password: %q, want proxmoxer's AuthenticationError", seen.WrongPassword)
	}
	// The ticket's user starts the task (pve-common UPID.pm: ...:$user:).
	if !regexp.MustCompile(`^UPID:pve:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:vzcreate:100:root@pam:$`).MatchString(seen.CreateUPID) {
		t.Errorf("create UPID %q", seen.CreateUPID)
	}
	if seen.CreateStatus["exitstatus"] != "OK" || seen.StartStatus["exitstatus"] != "OK" || seen.StartStatus["user"] != "root@pam" {
		t.Errorf("task status: create %v, start %v", seen.CreateStatus, seen.StartStatus)
	}
	if seen.InterfacesStopped != nil {
		t.Errorf("interfaces of a stopped container: %v, want null", seen.InterfacesStopped)
	}
	if len(seen.Interfaces) != 2 || seen.Interfaces[1]["name"] != "eth0" || seen.Interfaces[1]["inet"] != "10.42.0.150/24" {
		t.Errorf("interfaces: %v, want lo and eth0 10.42.0.150/24", seen.Interfaces)
	}
	if got := pick(seen.Tasks, "type", "status"); got != "vzstart OK,vzcreate OK" {
		t.Errorf("tasks %q, want vzstart then vzcreate, finished OK", got)
	}
	if len(seen.TasksVzstart) != 1 || seen.TasksVzstart[0]["upid"] == seen.CreateUPID {
		t.Errorf("typefilter=vzstart: %v", seen.TasksVzstart)
	}
	if got := pick(seen.Storage, "storage", "type"); got != "local dir,local-lvm lvmthin,local-zfs zfspool" {
		t.Errorf("storage %q", got)
	}
	if len(seen.StorageDir) != 1 || seen.StorageDir[0]["path"] != "/var/lib/vz" {
		t.Errorf("storage type=dir: %v", seen.StorageDir)
	}
}

// pick lists the string values of keys of each object, "v1 v2,v1 v2".
func pick(objs []map[string]any, keys ...string) string {
	rows := make([]string, len(objs))
	for i, o := range objs {
		vals := make([]string, len(keys))
		for j, k := range keys {
			vals[j], _ = o[k].(string)
		}
		rows[i] = strings.Join(vals, " ")
	}
	return strings.Join(rows, ",")
}
