package importer

import (
	"slices"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
)

// A FreeIPA host depends on the guest its fqdn (or the fqdn's first label)
// names, written into its resource options; a name two guests share, and
// a host no guest is, link nothing.
func TestLinkMachines(t *testing.T) {
	guest := func(kind, name string) steps.Found {
		return steps.Found{ID: steps.ID{Kind: kind, Name: name}, Machine: name,
			Jsonnet: "proxmox.lxc('" + name + "', {}, { adopt: true })"}
	}
	host := func(fqdn string) steps.Found {
		return steps.Found{ID: steps.ID{Kind: "freeipa.host", Name: fqdn}, Machine: fqdn, Enrols: true,
			Jsonnet: "ipa.host('" + fqdn + "', { force: true, adopt: true })"}
	}
	guests := &steps.Imported{Resources: []steps.Found{
		guest("proxmox.lxc", "web1"), guest("proxmox.vm", "gitlab.int.mydomain"),
		guest("proxmox.lxc", "db1"), guest("proxmox.vm", "db1"),
	}}
	hosts := &steps.Imported{Resources: []steps.Found{
		host("web1.hetzner.int.mydomain"), host("gitlab.int.mydomain"), host("db1.int.mydomain"), host("nas.int.mydomain"),
	}}
	linkMachines([]*steps.Imported{guests, hosts})
	want := map[string]struct {
		deps    []steps.ID
		jsonnet string
	}{
		"web1.hetzner.int.mydomain": {[]steps.ID{{Kind: "proxmox.lxc", Name: "web1"}},
			`ipa.host('web1.hetzner.int.mydomain', { force: true, dependsOn: ["proxmox.lxc/web1"], adopt: true })`},
		"gitlab.int.mydomain": {[]steps.ID{{Kind: "proxmox.vm", Name: "gitlab.int.mydomain"}},
			`ipa.host('gitlab.int.mydomain', { force: true, dependsOn: ["proxmox.vm/gitlab.int.mydomain"], adopt: true })`},
		"db1.int.mydomain": {nil, `ipa.host('db1.int.mydomain', { force: true, adopt: true })`},
		"nas.int.mydomain": {nil, `ipa.host('nas.int.mydomain', { force: true, adopt: true })`},
	}
	for _, f := range hosts.Resources {
		w := want[f.ID.Name]
		if !slices.Equal(f.DependsOn, w.deps) || f.Jsonnet != w.jsonnet {
			t.Errorf("%s: depends on %v, %s; want %v, %s", f.ID.Name, f.DependsOn, f.Jsonnet, w.deps, w.jsonnet)
		}
	}
	for _, f := range guests.Resources {
		if f.DependsOn != nil {
			t.Errorf("guest %s got dependsOn %v", f.ID, f.DependsOn)
		}
	}
}
