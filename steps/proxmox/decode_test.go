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

func TestDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	b := offline(t)
	for _, tc := range []struct{ kind, spec string }{{proxmox.KindLXC, lxcSpec}, {proxmox.KindVM, vmSpec},
		{proxmox.KindVM, `{"node":"pve","clone":{"template":"debian-12-cloudinit","full":false}}`}} {
		s := steptest.Decode(t, b, tc.kind, tc.spec)
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2 := steptest.Decode(t, b, tc.kind, string(out))
		out2, _ := json.Marshal(s2)
		if string(out) != string(out2) {
			t.Errorf("round trip:\n%s\n%s", out, out2)
		}
		var m map[string]any
		_ = json.Unmarshal(out, &m)
		if m["protect"] != true || m["state"] != "running" {
			t.Errorf("defaults missing: %s", out)
		}
		if tc.spec == lxcSpec && (m["memory"] != 4096.0 || m["rootfs"].(map[string]any)["size"] != 8192.0) {
			t.Errorf("sizes not MiB: %s", out)
		}
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	t.Parallel()
	b := offline(t)
	lxc := func(r ...string) string { return strings.NewReplacer(r...).Replace(lxcSpec) }
	for _, tc := range []struct{ kind, spec, field string }{
		{proxmox.KindLXC, lxc(`"memory": "4GiB"`, `"memory": "4GB"`), "memory"},
		{proxmox.KindLXC, lxc(`"memory": "4GiB"`, `"memory": 8`), "memory"},
		{proxmox.KindLXC, lxc(`"size": "8GiB"`, `"size": "1536MiB"`), "rootfs.size"},
		{proxmox.KindLXC, lxc(`"ip": "10.42.0.101/24"`, `"ip": "10.42.0.101"`), "networks[0].ip"},
		{proxmox.KindLXC, lxc(`"gateway": "10.42.0.1"`, `"gateway": "10.43.0.1"`), "networks[0].gateway"},
		{proxmox.KindLXC, lxc(`"bridge": "vmbr0"`, `"bridge": ""`), "networks[0].bridge"},
		{proxmox.KindLXC, lxc(`"bridge": "vmbr0"`, `"bridge": "vmbr0", "vlan": 5000`), "networks[0].vlan"},
		{proxmox.KindLXC, lxc(`"bridge": "vmbr0"`, `"bridge": "vmbr0", "mac": "01:00:5e:00:00:01"`), "networks[0].mac"},
		{proxmox.KindLXC, lxc(`"node": "pve"`, `"node": "pve", "clone": {}`), "clone"},
		{proxmox.KindLXC, lxc(`"ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"`, `"ostemplate": "debian"`), "ostemplate"},
		{proxmox.KindLXC, lxc(`"tags": ["web"]`, `"tags": ["Web Server"]`), "tags[0]"},
		{proxmox.KindLXC, lxc(`"vmid": 101`, `"vmid": 42`), "vmid"},
		{proxmox.KindLXC, lxc(`"node": "pve",`, `"state": "paused",`), "node"},
		{proxmox.KindVM, strings.Replace(vmSpec, `"template": 9000`, `"template": true`, 1), "clone.template"},
		{proxmox.KindVM, strings.Replace(vmSpec, `"slot": "scsi0"`, `"slot": "hda"`, 1), "disks[0].slot"},
		{proxmox.KindVM, strings.Replace(vmSpec, `"cores": 4`, `"cores": 4, "swap": 512`, 1), "swap"},
	} {
		_, err := b.Decode(tc.kind, json.RawMessage(tc.spec))
		if !slices.ContainsFunc(steps.FieldErrors(err), func(fe *steps.FieldError) bool { return fe.Field == tc.field }) {
			t.Errorf("decode with bad %s: err = %v", tc.field, err)
		}
	}
}

// TestDecodeReportsEveryProblem: a spec with several bad fields — a
// misspelled one, a bad size, a bad network, a bad mount — gets one
// FieldError for each, not only the first (issue 17, item 3).
func TestDecodeReportsEveryProblem(t *testing.T) {
	t.Parallel()
	b := offline(t)
	spec := strings.NewReplacer(
		`"memory": "4GiB"`, `"memory": "4GB", "corse": 2`,
		`"ip": "10.42.0.101/24"`, `"ip": "10.42.0.101"`,
		`"vmid": 101`, `"vmid": 42`,
		`"ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"`, `"ostemplate": 7`,
	).Replace(lxcSpec)
	_, err := b.Decode(proxmox.KindLXC, json.RawMessage(spec))
	got := steptest.ProblemFields(err)
	want := []string{"corse", "memory", "networks[0].ip", "ostemplate", "vmid"}
	if !slices.Equal(got, want) {
		t.Errorf("problems in fields %v, want %v:\n%v", got, want, err)
	}
	if msg := err.Error(); !strings.Contains(msg, `did you mean "cores"?`) || strings.Contains(msg, "ostemplate: is required") {
		t.Errorf("messages:\n%s", msg)
	}
}

// TestSizesZeroAndHuge: only an absent size takes its default; a written 0,
// a size larger than any node and one that overflows are decode errors that
// name the field.
func TestSizesZeroAndHuge(t *testing.T) {
	t.Parallel()
	b := offline(t)
	lxc := func(old, repl string) string {
		if !strings.Contains(lxcSpec, old) {
			t.Fatalf("lxcSpec has no %s", old)
		}
		return strings.Replace(lxcSpec, old, repl, 1)
	}
	vm := func(old, repl string) string {
		if !strings.Contains(vmSpec, old) {
			t.Fatalf("vmSpec has no %s", old)
		}
		return strings.Replace(vmSpec, old, repl, 1)
	}
	mount := func(size string) string {
		return lxc(`"tags": ["web"]`, `"tags": ["web"], "mounts": [{"path": "/data", "storage": "local-lvm", "size": `+size+`}]`)
	}
	for _, tc := range []struct{ name, kind, spec, field, msg string }{
		{"memory 0GiB", proxmox.KindLXC, lxc(`"memory": "4GiB"`, `"memory": "0GiB"`), "memory", "leave memory out for the default 512MiB"},
		{"memory 0", proxmox.KindVM, vm(`"memory": "8GiB"`, `"memory": 0`), "memory", "must be at least 16MiB"},
		{"memory beyond any node", proxmox.KindLXC, lxc(`"memory": "4GiB"`, `"memory": "1048576TiB"`), "memory", "more than 4096GiB"},
		{"memory 5TiB", proxmox.KindVM, vm(`"memory": "8GiB"`, `"memory": "5TiB"`), "memory", "qemu-server MAX_MEM"},
		{"memory overflows bytes", proxmox.KindLXC, lxc(`"memory": "4GiB"`, `"memory": 17592186044416`), "memory", "more than"},
		{"memory overflows int64", proxmox.KindLXC, lxc(`"memory": "4GiB"`, `"memory": "9223372036854775807TiB"`), "memory", "too large"},
		{"memory overflows json number", proxmox.KindLXC, lxc(`"memory": "4GiB"`, `"memory": 99999999999999999999`), "memory", "too large"},
		{"swap huge", proxmox.KindLXC, lxc(`"cores": 2`, `"cores": 2, "swap": "8TiB"`), "swap", "more than"},
		{"rootfs 0", proxmox.KindLXC, lxc(`"size": "8GiB"`, `"size": "0GiB"`), "rootfs.size", "leave rootfs.size out for the default 8GiB"},
		{"rootfs huge", proxmox.KindLXC, lxc(`"size": "8GiB"`, `"size": "2048TiB"`), "rootfs.size", "more than"},
		{"mount 0", proxmox.KindLXC, mount(`0`), "mounts[0].size", "at least 1GiB"},
		{"mount huge", proxmox.KindLXC, mount(`"1048576TiB"`), "mounts[0].size", "more than"},
		{"mount absent", proxmox.KindLXC, lxc(`"tags": ["web"]`, `"tags": ["web"], "mounts": [{"path": "/data", "storage": "local-lvm"}]`), "mounts[0].size", "is required"},
		{"disk 0", proxmox.KindVM, vm(`"size": "64GiB"`, `"size": "0GiB"`), "disks[0].size", "at least 1GiB"},
		{"disk huge", proxmox.KindVM, vm(`"size": "64GiB"`, `"size": 9007199254740992`), "disks[0].size", "more than"},
		{"disk absent", proxmox.KindVM, vm(`, "size": "64GiB"`, ``), "disks[0].size", "is required"},
	} {
		_, err := b.Decode(tc.kind, json.RawMessage(tc.spec))
		var fe *steps.FieldError
		if !asFieldError(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%s: err = %v, want a field error on %s saying %q", tc.name, err, tc.field, tc.msg)
		}
	}
}

// TestSizeDefaults: absent or null sizes take their defaults; swap 0 (no
// swap) is a value PVE accepts (swap minimum 0).
func TestSizeDefaults(t *testing.T) {
	t.Parallel()
	b := offline(t)
	for _, tc := range []struct {
		name, spec              string
		memory, swap, rootfsMiB int64
	}{
		{"absent", strings.NewReplacer(`"memory": "4GiB",`, ``, `, "size": "8GiB"`, ``).Replace(lxcSpec), 512, 512, 8192},
		{"null", strings.NewReplacer(`"memory": "4GiB"`, `"memory": null, "swap": null`, `"size": "8GiB"`, `"size": null`).Replace(lxcSpec), 512, 512, 8192},
		{"no swap", strings.Replace(lxcSpec, `"cores": 2`, `"cores": 2, "swap": 0`, 1), 4096, 0, 8192},
		{"4TiB", strings.Replace(lxcSpec, `"memory": "4GiB"`, `"memory": "4TiB"`, 1), 4 << 20, 512, 8192},
	} {
		s, err := b.Decode(proxmox.KindLXC, json.RawMessage(tc.spec))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		l := s.(*proxmox.LXCSpec)
		if l.Memory.MiB != tc.memory || l.Swap.MiB != tc.swap || l.RootFS.Size.MiB != tc.rootfsMiB {
			t.Errorf("%s: memory %d swap %d rootfs %d MiB, want %d %d %d", tc.name, l.Memory.MiB, l.Swap.MiB, l.RootFS.Size.MiB, tc.memory, tc.swap, tc.rootfsMiB)
		}
	}
}

// TestDecodeMixedCaseTag: pve-tag is case-insensitive (PVE::JSONSchema,
// `(?^i:…)`), so a guest tagged "Homelab" is a valid spec (it was refused,
// and runner import left such a guest alone).
func TestDecodeMixedCaseTag(t *testing.T) {
	t.Parallel()
	b := offline(t)
	s := steptest.Decode(t, b, proxmox.KindLXC, strings.Replace(lxcSpec, `"tags": ["web"]`, `"tags": ["Homelab", "web"]`, 1))
	out, _ := json.Marshal(s)
	if !strings.Contains(string(out), `"Homelab"`) {
		t.Errorf("tags: %s", out)
	}
}
