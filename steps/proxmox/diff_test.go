package proxmox_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// TestDiffClassifies checks Diff's pure classification of changes against
// live guests rendered as the simulator (and PVE) report them.
func TestDiffClassifies(t *testing.T) {
	t.Parallel()
	b := offline(t)
	lxcLive := func(status string) *proxmox.Live {
		return &proxmox.Live{Type: "lxc", VMID: 101, Node: "pve", Name: "nextcloud", Status: status, Tags: []string{"gitops-runner", "web"},
			Config: map[string]string{"hostname": "nextcloud", "cores": "2", "memory": "4096", "swap": "512", "unprivileged": "1",
				"features": "keyctl=1,nesting=1", "rootfs": "local-lvm:vm-101-disk-0,size=8G", "onboot": "1", "startup": "order=2",
				"tags": "gitops-runner;web", "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=10.42.0.101/24,gw=10.42.0.1,type=veth"}}
	}
	vmLive := func(status string) *proxmox.Live {
		return &proxmox.Live{Type: "qemu", VMID: 104, Node: "pve", Name: "dokku", Status: status, Tags: []string{"gitops-runner"},
			Config: map[string]string{"name": "dokku", "cores": "4", "memory": "8192", "ciuser": "admin", "searchdomain": "hetzner.int.mydomain",
				"sshkeys": "ssh-ed25519%20AAAAC3Nza%20admin%40laptop%0A", "scsi0": "local-zfs:vm-104-disk-0,size=64G",
				"net0": "virtio=BC:24:11:00:00:02,bridge=vmbr0", "ipconfig0": "ip=10.42.0.104/24,gw=10.42.0.1", "tags": "gitops-runner"}}
	}
	lxc := func(r ...string) steps.Spec {
		return steptest.Decode(t, b, proxmox.KindLXC, strings.NewReplacer(r...).Replace(lxcSpec))
	}
	vm := func(r ...string) steps.Spec {
		return steptest.Decode(t, b, proxmox.KindVM, strings.NewReplacer(r...).Replace(vmSpec))
	}
	for _, tc := range []struct {
		name   string
		kind   string
		want   steps.Spec
		live   *proxmox.Live
		action steps.Action
		fields map[string]string // path → effect
	}{
		{"in sync", proxmox.KindLXC, lxc(), lxcLive("running"), steps.NoOp, map[string]string{}},
		{"memory live", proxmox.KindLXC, lxc(`"4GiB"`, `"6GiB"`), lxcLive("running"), steps.Update, map[string]string{"memory": ""}},
		{"features need a restart", proxmox.KindLXC, lxc(`"keyctl": true`, `"keyctl": false`), lxcLive("running"), steps.Update, map[string]string{"features.keyctl": "reboot"}},
		{"features of a stopped CT", proxmox.KindLXC, lxc(`"keyctl": true`, `"keyctl": false`, `"node": "pve"`, `"node": "pve", "state": "stopped"`), lxcLive("stopped"), steps.Update, map[string]string{"features.keyctl": ""}},
		{"unprivileged replaces", proxmox.KindLXC, lxc(`"features": {"nesting": true, "keyctl": true}`, `"unprivileged": false, "features": {"nesting": true}`), lxcLive("running"), steps.Replace,
			map[string]string{"unprivileged": "replace", "features.keyctl": "reboot"}},
		{"rootfs storage replaces", proxmox.KindLXC, lxc(`"storage": "local-lvm"`, `"storage": "local-zfs"`), lxcLive("running"), steps.Replace, map[string]string{"rootfs.storage": "replace"}},
		{"node replaces", proxmox.KindLXC, lxc(`"node": "pve"`, `"node": "pve2"`), lxcLive("running"), steps.Replace, map[string]string{"node": "replace"}},
		{"a new MAC is a change", proxmox.KindLXC, lxc(`"bridge": "vmbr0"`, `"bridge": "vmbr0", "mac": "bc:24:11:00:00:09"`), lxcLive("running"), steps.Update, map[string]string{"networks[0].mac": ""}},
		{"protect alone", proxmox.KindLXC, lxc(`"node": "pve"`, `"node": "pve", "protect": false`), lxcLive("running"), steps.Update, map[string]string{"protect": ""}},
		{"stop", proxmox.KindLXC, lxc(`"node": "pve"`, `"node": "pve", "state": "stopped"`), lxcLive("running"), steps.Update, map[string]string{"state": ""}},
		{"VM in sync", proxmox.KindVM, vm(), vmLive("running"), steps.NoOp, map[string]string{}},
		{"VM cores need a restart", proxmox.KindVM, vm(`"cores": 4`, `"cores": 8`), vmLive("running"), steps.Update, map[string]string{"cores": "reboot"}},
		{"VM cores when stopped", proxmox.KindVM, vm(`"cores": 4`, `"cores": 8`, `"node": "pve"`, `"node": "pve", "state": "stopped"`), vmLive("stopped"), steps.Update, map[string]string{"cores": ""}},
		{"VM cloud-init user", proxmox.KindVM, vm(`"user": "admin"`, `"user": "debian"`), vmLive("running"), steps.Update, map[string]string{"cloudInit.user": "reboot"}},
		{"VM disk grows live", proxmox.KindVM, vm(`"64GiB"`, `"80GiB"`), vmLive("running"), steps.Update, map[string]string{"disks[0].size": ""}},
		{"VM template replaces", proxmox.KindVM, vm(`"template": 9000`, `"template": 9001`), vmLive("running"), steps.Replace, map[string]string{"clone.template": "replace"}},
	} {
		last := lxc()
		if tc.kind == proxmox.KindVM {
			last = vm()
		}
		c, err := b.Diff(steps.Target{ID: id(tc.kind, tc.live.Name), Want: tc.want, Last: last}, tc.live)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := map[string]string{}
		for _, f := range c.Fields {
			got[f.Path] = string(f.Effect)
		}
		if c.Action != tc.action || len(got) != len(tc.fields) {
			t.Errorf("%s: %s %v, want %s %v", tc.name, c.Action, got, tc.action, tc.fields)
			continue
		}
		for p, eff := range tc.fields {
			if e, ok := got[p]; !ok || e != eff {
				t.Errorf("%s: field %s effect %q (present %v), want %q", tc.name, p, e, ok, eff)
			}
		}
	}
}

func TestIdentities(t *testing.T) {
	t.Parallel()
	b := offline(t)
	lxc101 := steptest.Decode(t, b, proxmox.KindLXC, lxcSpec)
	lxcNoID := steptest.Decode(t, b, proxmox.KindLXC, strings.Replace(lxcSpec, `"vmid": 101, `, "", 1))
	vm101 := steptest.Decode(t, b, proxmox.KindVM, strings.Replace(vmSpec, `"vmid": 104`, `"vmid": 101`, 1))
	vm104 := steptest.Decode(t, b, proxmox.KindVM, vmSpec)
	ct, vm := id(proxmox.KindLXC, "blog"), id(proxmox.KindVM, "dokku")
	cases := []struct {
		name string
		t    steps.Target
		want []string
	}{
		{"wanted vmid", steps.Target{ID: ct, Want: lxc101}, []string{"vmid:101"}},
		{"a VM with the same vmid has the same key", steps.Target{ID: vm, Want: vm101}, []string{"vmid:101"}},
		{"wanted vmid wins over the last", steps.Target{ID: vm, Want: vm104, Last: vm101, State: json.RawMessage(`{"vmid":101,"node":"pve"}`)}, []string{"vmid:104"}},
		{"allocated vmid from the state", steps.Target{ID: ct, Want: lxcNoID, Last: lxcNoID, State: json.RawMessage(`{"vmid":117,"node":"pve"}`)}, []string{"vmid:117"}},
		{"last applied vmid", steps.Target{ID: ct, Want: lxcNoID, Last: lxc101}, []string{"vmid:101"}},
		{"delete candidate", steps.Target{ID: ct, Last: lxcNoID, State: json.RawMessage(`{"vmid":117,"node":"pve"}`)}, []string{"vmid:117"}},
		{"not known before create", steps.Target{ID: ct, Want: lxcNoID}, nil},
		{"unreadable state", steps.Target{ID: ct, Want: lxcNoID, Last: lxcNoID, State: json.RawMessage(`"garbage"`)}, nil},
	}
	for _, tc := range cases {
		if got := b.Identities(tc.t); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Identities = %q, want %q", tc.name, got, tc.want)
		}
	}
}
