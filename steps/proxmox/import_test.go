package proxmox_test

import (
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/importer"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

// handMade are guests the way the homelab's tools leave them (pct create,
// qm clone, edits in the UI): options the runner does not manage, an LXC
// with several mount points, a full and a linked clone of the cloud-init
// template 9000, a privileged stopped container, and one with a bind mount
// the runner cannot declare.
var handMade = []sim.GuestSpec{
	{Node: sim.HomelabNode, VMID: 101, Type: "lxc", Running: true, Config: map[string]string{
		"hostname": "nextcloud", "ostype": "debian", "arch": "amd64", "unprivileged": "1",
		"cores": "2", "memory": "4096", "swap": "512", "features": "keyctl=1,nesting=1",
		"rootfs":      "local-zfs:subvol-101-disk-0,size=32G",
		"mp0":         "local-zfs:subvol-101-disk-1,mp=/srv/data,backup=1,size=100G",
		"mp1":         "local-zfs:subvol-101-disk-2,mp=/srv/photos,size=200G",
		"mp2":         "local-lvm:vm-101-disk-0,mp=/var/backups,ro=1,size=50G",
		"net0":        "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:01,ip=10.42.0.101/24,gw=10.42.0.1,type=veth",
		"onboot":      "1",
		"startup":     "order=2",
		"tags":        "homelab;web",
		"description": "Nextcloud, set up by hand in 2023",
		"nameserver":  "10.42.0.2", "searchdomain": "hetzner.int.mydomain",
		"cpulimit": "2", "protection": "1", "timezone": "Europe/Berlin",
	}},
	{Node: sim.HomelabNode, VMID: 102, Type: "lxc", Config: map[string]string{
		"hostname": "pihole", "ostype": "debian", "arch": "amd64",
		"cores": "1", "memory": "512", "swap": "0", "features": "fuse=1,mount=nfs",
		"rootfs": "local-lvm:vm-102-disk-0,size=8G",
		"net0":   "name=eth0,bridge=vmbr1,hwaddr=BC:24:11:00:01:02,ip=dhcp,tag=20,firewall=1,type=veth",
	}},
	{Node: sim.HomelabNode, VMID: 104, Type: "qemu", Running: true, Config: map[string]string{
		"name": "gitlab", "cores": "4", "memory": "8192", "sockets": "1", "cpu": "host", "agent": "1",
		"ostype": "l26", "scsihw": "virtio-scsi-single", "boot": "order=scsi0",
		"scsi0":     "local-zfs:vm-104-disk-0,iothread=1,size=64G",
		"scsi1":     "local-zfs:vm-104-disk-1,size=2252M",
		"ide2":      "local-zfs:vm-104-cloudinit,media=cdrom",
		"net0":      "virtio=BC:24:11:00:01:04,bridge=vmbr0",
		"ipconfig0": "ip=10.42.0.104/24,gw=10.42.0.1",
		"ciuser":    "debian", "cipassword": "$5$secret$Zm9vYmFy", "searchdomain": "hetzner.int.mydomain",
		"sshkeys": "ssh-ed25519%20AAAAC3Nza%20admin%40laptop%0A",
		"smbios1": "uuid=0c8a7d21-0104-4b1e-9f4e-1c9e0b9a0104", "vmgenid": "1b3c5f2a-0104-4c6d-9e8f-7a6b5c4d0104",
		"onboot": "1",
	}},
	{Node: sim.HomelabNode, VMID: 105, Type: "qemu", Running: true, Config: map[string]string{
		"name": "ci-runner", "cores": "2", "memory": "2048",
		"scsi0": "local-zfs:base-9000-disk-0/vm-105-disk-0,size=3G",
		"net0":  "e1000=BC:24:11:00:01:05,bridge=vmbr0",
	}},
	{Node: sim.HomelabNode, VMID: 110, Type: "lxc", Running: true, Config: map[string]string{
		"hostname": "jellyfin", "ostype": "debian", "unprivileged": "1", "cores": "2", "memory": "2048", "swap": "512",
		"rootfs": "local-zfs:subvol-110-disk-0,size=16G",
		"mp0":    "/mnt/media,mp=/media",
		"net0":   "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:10,ip=10.42.0.110/24,gw=10.42.0.1,type=veth",
	}},
	// No cores limit (pct create without --cores: every core of the node),
	// which a spec cannot say: the import's Diff check leaves it out.
	{Node: sim.HomelabNode, VMID: 111, Type: "lxc", Running: true, Config: map[string]string{
		"hostname": "unlimited", "ostype": "debian", "unprivileged": "1", "memory": "512", "swap": "512",
		"rootfs": "local-zfs:subvol-111-disk-0,size=8G",
		"net0":   "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:10,ip=10.42.0.110/24,gw=10.42.0.1,type=veth",
	}},
}

// Guests kept by hand are imported: the written repo adopts them with no
// write call, options the runner does not manage and guessed templates are
// listed in IMPORT.md, the cipassword never reaches a file, and a second
// import writes the same bytes.
func TestImportPlansClean(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	for _, g := range handMade {
		if err := e.sim.AddGuest(g); err != nil {
			t.Fatal(err)
		}
	}
	read := func() map[string]string {
		t.Helper()
		e.sim.ResetCounters()
		res, files := pipelinetest.Import(t, importer.Source{Backend: e.b, Name: "proxmox"})
		if st := e.sim.Counters(); st.Writes != 0 {
			t.Errorf("import made %d write calls: %v", st.Writes, st.ByOp)
		}
		// 4 guests; left alone: the template, jellyfin (bind mount),
		// unlimited, and the hand-set options of 101, 102 and 104.
		if res.Resources != 4 || res.Unmanaged != 6 {
			t.Errorf("import: %d resources, %d left alone; want 4 and 6\n%s", res.Resources, res.Unmanaged, files["IMPORT.md"])
		}
		return files
	}
	files := read()
	pipelinetest.FileHas(t, files, "guests.libsonnet",
		`local proxmox = import 'proxmox.libsonnet';`,
		`proxmox.lxc('nextcloud', {`,
		`ostemplate: proxmox.templates.debian12,`,
		`features: proxmox.docker,`,
		"mounts: [\n      { path: '/srv/data', storage: 'local-zfs', size: '100GiB', backup: true },",
		`{ path: '/srv/photos', storage: 'local-zfs', size: '200GiB' },`,
		`networks: [proxmox.network('vmbr0', '10.42.0.101/24', '10.42.0.1')],`,
		`unprivileged: false,`,
		`networks: [proxmox.network('vmbr1', 'dhcp', vlan=20) + { firewall: true }],`,
		`swap: '0MiB',`,
		`state: 'stopped',`,
		`clone: { template: 9000 },`,
		`cloudInit: { user: 'debian', sshKeys: ['ssh-ed25519 AAAAC3Nza admin@laptop'], searchdomain: 'hetzner.int.mydomain' },`,
		`disks: [{ slot: 'scsi0', size: '64GiB' }],`,
		`clone: { template: 9000, full: false },`,
		`networks: [{ bridge: 'vmbr0', model: 'e1000' }],`,
		`disks: [{ slot: 'scsi0', size: '3GiB' }],`,
		`}, { adopt: true }),`,
	)
	for name, b := range files {
		if strings.Contains(b, "Zm9vYmFy") {
			t.Errorf("%s holds the cipassword:\n%s", name, b)
		}
	}
	if strings.Contains(files["guests.libsonnet"], "jellyfin") || strings.Contains(files["guests.libsonnet"], "cpulimit") {
		t.Errorf("guests.libsonnet declares what the runner cannot manage:\n%s", files["guests.libsonnet"])
	}
	pipelinetest.FileHas(t, files, "IMPORT.md",
		"## To confirm",
		"Proxmox CT 101 (nextcloud) on pve: ostemplate local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
		"Proxmox VM 104 (gitlab) on pve: clone.template 9000 | Proxmox does not record the template a VM was cloned from",
		"Proxmox VM 105 (ci-runner) on pve: clone.template 9000 | a linked clone",
		"Proxmox VM template 9000 (debian-12-cloudinit) on pve",
		"Proxmox CT 110 (jellyfin) on pve | mp0 is a bind mount or device (/mnt/media at /media)",
		"Proxmox CT 111 (unlimited) on pve | declaring it would plan a change (update: cores 0 → 1)",
		"cpulimit=2, mp2 ro=1, protection=1, timezone=Europe/Berlin",
		"features mount=nfs",
		"agent=1, boot=order=scsi0, cipassword=(set, not shown), cpu=host, scsi0 iothread=1, scsi1 (size 2252M, not whole GiB: not in disks, never resized), scsihw=virtio-scsi-single, sockets=1",
	)

	p := newPipeline(t, e)
	p.In.Push("import", files)
	e.sim.ResetCounters()
	rep := p.Run()
	if rep.Result != pipeline.ResultOK || rep.Changed != 0 {
		t.Fatalf("first deployment of the import: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	if rep.Counts["adopt"] != 4 {
		t.Errorf("adopted %v, want 4 adoptions", rep.Counts)
	}
	if st := e.sim.Counters(); st.Writes != 0 {
		t.Errorf("adopting the import made %d write calls: %v", st.Writes, st.ByOp)
	}
	// Still clean once owned: the second run diffs against the inventory.
	p.In.Push("again", map[string]string{"README": "x"})
	if rep := p.Run(); rep.Result != pipeline.ResultOK || rep.Changed != 0 {
		t.Fatalf("second deployment: %s %v %v", rep.Summary, rep.Counts, rep.Errors)
	}
	pipelinetest.SameFiles(t, files, read())
}
