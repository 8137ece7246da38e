package proxmox_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/importtest"
	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/runner/importer"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

// Guests kept by hand are imported: the written repo adopts them with no
// write call, options the runner does not manage and guessed templates are
// listed in IMPORT.md, the cipassword never reaches a file, and a second
// import writes the same bytes.
func TestImportPlansClean(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	importtest.SeedProxmox(t, e.sim)
	// 4 guests; left alone: the template, jellyfin (bind mount),
	// unlimited, and the hand-set options of 101, 102 and 104.
	read := importtest.Reader(t, importer.Source{Backend: e.b, Name: "proxmox"}, func() int { return e.sim.Counters().Writes }, 4, 6)
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
		if strings.Contains(b, importtest.CIPassword) || strings.Contains(b, importtest.KVMArgsToken) {
			t.Errorf("%s holds the cipassword or the token on the kvm command line:\n%s", name, b)
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
		// a VM's ostype is chosen by hand (a container's comes from its template)
		"agent=1, args=(set, not shown), boot=order=scsi0, cipassword=(set, not shown), cpu=host, ostype=l26, scsi0 iothread=1, scsi1 (size 2252M, not whole GiB: not in disks, never resized), scsihw=virtio-scsi-single, sockets=1",
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

// --select keeps the guests it names, and with them only their notes in
// IMPORT.md: a left-out container's guessed template and options are not
// listed; what belongs to no resource (the template) still is.
func TestImportSelect(t *testing.T) {
	t.Parallel()
	res, dir, err := importSelected(t, "proxmox.vm/*")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "IMPORT.md")) //nolint:gosec // the test's directory
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"IMPORT.md": string(md)}
	// gitlab and ci-runner; left alone: the template, gitlab's options,
	// and the two containers that cannot be declared (not resources).
	importtest.Counts(t, res, files, 2, 4)
	pipelinetest.FileHas(t, files, "IMPORT.md", "VM 104 (gitlab) on pve: clone.template 9000", "Proxmox VM template 9000", "CT 110 (jellyfin)")
	for _, not := range []string{"CT 101 (nextcloud)", "CT 102 (pihole)"} {
		if strings.Contains(files["IMPORT.md"], not) {
			t.Errorf("IMPORT.md lists %s, which --select left out:\n%s", not, files["IMPORT.md"])
		}
	}
}

// --select that matches nothing is an error, and nothing is written (it
// wrote a repo of no resources, exit 0).
func TestImportSelectMatchingNothing(t *testing.T) {
	t.Parallel()
	_, dir, err := importSelected(t, "proxmox.vm/nosuch*")
	if !errors.Is(err, importer.ErrNothingSelected) || !strings.Contains(err.Error(), "matched none of the") {
		t.Fatalf("select matching nothing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.jsonnet")); !os.IsNotExist(err) {
		t.Errorf("main.jsonnet was written (%v)", err)
	}
}

// An import --into a repo whose proxmox.lxc/media is CT 199 (not made
// yet) while the live CT 120 is also named media does not skip CT 120 as
// declared: it lists it as a conflict, left alone, and writes nothing for it.
func TestImportIntoNameOfAnotherGuest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	if err := e.sim.AddGuest(sim.GuestSpec{Node: sim.HomelabNode, VMID: 120, Type: "lxc", Running: true, Config: map[string]string{
		"hostname": "media", "ostype": "debian", "unprivileged": "1", "cores": "1", "memory": "512", "swap": "512",
		"rootfs": "local-zfs:subvol-120-disk-0,size=8G",
		"net0":   "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:20,ip=dhcp,type=veth",
	}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, src := range map[string]string{
		"main.jsonnet": "local runner = import 'runner.libsonnet';\nrunner.output([import 'mine.libsonnet'])\n",
		"mine.libsonnet": `local proxmox = import 'proxmox.libsonnet';
[
  proxmox.lxc('media', { node: 'pve', vmid: 199, ostemplate: proxmox.templates.debian12, rootfs: { storage: 'local-zfs', size: '8GiB' }, networks: [proxmox.network('vmbr0', 'dhcp')] }),
]
`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := steps.NewRegistry(e.b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := importer.Run(t.Context(), reg, importer.Request{Into: dir, Sources: []importer.Source{{Backend: e.b, Name: "proxmox"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resources != 0 || len(res.Skipped) != 0 {
		t.Errorf("import --into: %d resources, skipped %q; want CT 120 neither written nor skipped as declared", res.Resources, res.Skipped)
	}
	md, err := os.ReadFile(filepath.Join(dir, "IMPORT.md")) //nolint:gosec // the test's repo
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.FileHas(t, map[string]string{"IMPORT.md": string(md)}, "IMPORT.md",
		"| proxmox.lxc/media (live: proxmox vmid:120) | the repo declares proxmox.lxc/media for another live object (proxmox vmid:199)")
}

// Two containers named dup become dup-<vmid>; when another guest is named
// dup-130 already, CT 130 gets a name that is still free.
func TestImportDuplicateNamesStayUnique(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	for _, g := range []struct {
		vmid int
		name string
	}{{130, "dup"}, {131, "dup"}, {140, "dup-130"}} {
		id := strconv.Itoa(g.vmid)
		if err := e.sim.AddGuest(sim.GuestSpec{Node: sim.HomelabNode, VMID: g.vmid, Type: "lxc", Running: true, Config: map[string]string{
			"hostname": g.name, "ostype": "debian", "unprivileged": "1", "cores": "1", "memory": "512", "swap": "512",
			"rootfs": "local-zfs:subvol-" + id + "-disk-0,size=8G",
			"net0":   "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:" + id[1:] + ",ip=dhcp,type=veth",
		}}); err != nil {
			t.Fatal(err)
		}
	}
	res, files := pipelinetest.Import(t, importer.Source{Backend: e.b, Name: "proxmox"})
	importtest.Counts(t, res, files, 3, 1) // left alone: the homelab node's VM template
	pipelinetest.FileHas(t, files, "guests.libsonnet",
		"proxmox.lxc('dup-130-130', {", "proxmox.lxc('dup-131', {", "proxmox.lxc('dup-130', {")
}

// importSelected imports the hand-made homelab's guests with --select
// patterns into a new directory, which it returns with Run's result.
func importSelected(t *testing.T, patterns ...string) (*importer.Result, string, error) {
	t.Helper()
	e := newEnv(t, sim.Options{}, nil)
	importtest.SeedProxmox(t, e.sim)
	reg, err := steps.NewRegistry(e.b)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "infra")
	res, err := importer.Run(t.Context(), reg, importer.Request{Dir: dir, Select: patterns,
		Sources: []importer.Source{{Backend: e.b, Name: "proxmox"}}})
	return res, dir, err
}
