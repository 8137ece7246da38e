package policy_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/policy"
)

func TestBuiltinNames(t *testing.T) {
	t.Parallel()
	want := []string{"capacity", "enrolled-hosts", "freeipa-own-objects", "guest-cluster", "managed-zones", "protected-guests"}
	if got := policy.Builtins(); !reflect.DeepEqual(got, want) {
		t.Errorf("Builtins() = %q, want %q", got, want)
	}
}

// only enables one built-in.
func only(name string, cfg policy.Config) policy.Options {
	var off []string
	for _, b := range policy.Builtins() {
		if b != name {
			off = append(off, b)
		}
	}
	return policy.Options{Disabled: off, Config: cfg}
}

func TestBuiltins(t *testing.T) {
	t.Parallel()
	zones := policy.Config{Zones: []string{"example.com", "Home.Example.NET."}}
	protectedLXC := map[string]any{"node": "pve", "memory": 2048, "protect": true}
	unprotectedLXC := map[string]any{"node": "pve", "memory": 2048, "protect": false}
	record := func(name, zone, rname string) map[string]any {
		return res("route53.record", name, map[string]any{"zone": zone, "name": rname, "type": "A", "ttl": 300, "values": []any{"203.0.113.1"}})
	}
	cert := func(name string, domains ...any) map[string]any {
		return res("acme.certificate", name, map[string]any{"domains": domains})
	}
	ipaHost := func(keytab, deleteEnrolled bool) map[string]any {
		return map[string]any{"fqdn": "nc.home.example.net", "hasKeytab": keytab, "deleteEnrolled": deleteEnrolled}
	}
	threeBig := list(guest("a", "pve", 20480, true), guest("b", "pve", 20480, true), guest("c", "pve", 20480, true))
	tests := []struct {
		name    string
		builtin string
		cfg     policy.Config
		input   map[string]any
		want    [][]string // per deny finding, substrings of its message; nil = no finding
	}{
		// guest-cluster
		{name: "guest moved to another cluster", builtin: "guest-cluster",
			input: doc(map[string]any{
				"resources": list(res("proxmox.lxc", "web", map[string]any{"cluster": "flat1", "node": "pve"})),
				"previous":  map[string]any{"resources": list(res("proxmox.lxc", "web", map[string]any{"cluster": "hetzner", "node": "pve"}))},
			}),
			want: [][]string{{"proxmox.lxc/web: cluster changed from hetzner to flat1", "declare the guest under a new name on flat1"}}},
		{name: "guest on its cluster", builtin: "guest-cluster",
			input: doc(map[string]any{
				"resources": list(res("proxmox.vm", "web", map[string]any{"cluster": "hetzner", "node": "pve"})),
				"previous":  map[string]any{"resources": list(res("proxmox.vm", "web", map[string]any{"cluster": "hetzner", "node": "pve2"}))},
			})},
		{name: "last spec of the single-host form: the plan judges", builtin: "guest-cluster",
			input: doc(map[string]any{
				"resources": list(res("proxmox.lxc", "web", map[string]any{"cluster": "hetzner", "node": "pve"})),
				"previous":  map[string]any{"resources": list(res("proxmox.lxc", "web", map[string]any{"node": "pve"}))},
			})},
		// protected-guests
		{name: "delete of protected guest", builtin: "protected-guests",
			input: doc(map[string]any{"plan": list(change("proxmox.lxc", "nextcloud", "delete", protectedLXC, nil))}),
			want:  [][]string{{"proxmox.lxc/nextcloud would be deleted", "protected", "push protect: false"}}},
		{name: "delete of unprotected guest", builtin: "protected-guests",
			input: doc(map[string]any{"plan": list(change("proxmox.lxc", "nextcloud", "delete", unprotectedLXC, nil))})},
		{name: "replace of protected VM names the fields", builtin: "protected-guests",
			input: doc(map[string]any{"plan": list(change("proxmox.vm", "gitlab", "replace", protectedLXC, protectedLXC, "ostemplate", "arch"))}),
			want:  [][]string{{"proxmox.vm/gitlab would be replaced", "changed: arch, ostemplate", "protect: false"}}},
		{name: "update of protected guest", builtin: "protected-guests",
			input: doc(map[string]any{"plan": list(change("proxmox.lxc", "nextcloud", "update", protectedLXC, unprotectedLXC, "protect"))})},
		{name: "last spec without protect counts as protected", builtin: "protected-guests",
			input: doc(map[string]any{"plan": list(change("proxmox.lxc", "old", "delete", map[string]any{"node": "pve"}, nil))}),
			want:  [][]string{{"proxmox.lxc/old would be deleted"}}},
		{name: "non-guest delete", builtin: "protected-guests",
			input: doc(map[string]any{"plan": list(change("route53.record", "www", "delete", map[string]any{"protect": true}, nil))})},
		{name: "check time: protected guest removed from repo", builtin: "protected-guests",
			input: doc(map[string]any{"previous": map[string]any{"resources": list(res("proxmox.lxc", "nextcloud", protectedLXC))}}),
			want:  [][]string{{"proxmox.lxc/nextcloud would be deleted"}}},
		{name: "replay releases an adopted protected guest: nothing deleted", builtin: "protected-guests",
			input: doc(map[string]any{
				"plan":     list(change("proxmox.lxc", "nextcloud", "release", protectedLXC, nil)),
				"previous": map[string]any{"resources": list(res("proxmox.lxc", "nextcloud", protectedLXC))},
			})},
		{name: "check time: unprotected guest removed from repo", builtin: "protected-guests",
			input: doc(map[string]any{"previous": map[string]any{"resources": list(res("proxmox.lxc", "nextcloud", unprotectedLXC))}})},
		{name: "check time: protected guest still in repo", builtin: "protected-guests",
			input: doc(map[string]any{
				"resources": list(guest("nextcloud", "pve", 2048, true)),
				"previous":  map[string]any{"resources": list(res("proxmox.lxc", "nextcloud", protectedLXC))},
			})},
		{name: "plan and previous agree: one finding", builtin: "protected-guests",
			input: doc(map[string]any{
				"plan":     list(change("proxmox.lxc", "nextcloud", "delete", protectedLXC, nil)),
				"previous": map[string]any{"resources": list(res("proxmox.lxc", "nextcloud", protectedLXC))},
			}),
			want: [][]string{{"proxmox.lxc/nextcloud would be deleted"}}},

		// managed-zones
		{name: "record in managed zone", builtin: "managed-zones", cfg: zones,
			input: doc(map[string]any{"resources": list(record("www", "example.com", "www"), record("nas", "home.example.net.", "nas.home.example.net."))})},
		{name: "record in unmanaged zone", builtin: "managed-zones", cfg: zones,
			input: doc(map[string]any{"resources": list(record("evil", "example.org", "www"))}),
			want:  [][]string{{"route53.record/evil", `zone "example.org" is not a managed zone`, "managed: example.com, home.example.net"}}},
		{name: "absolute name outside its zone", builtin: "managed-zones", cfg: zones,
			input: doc(map[string]any{"resources": list(record("x", "example.com", "www.example.org."))}),
			want:  [][]string{{"route53.record/x", `name "www.example.org." is outside its zone "example.com"`}}},
		{name: "look-alike zone suffix", builtin: "managed-zones", cfg: zones,
			input: doc(map[string]any{"resources": list(record("x", "example.com", "notexample.com."))}),
			want:  [][]string{{`name "notexample.com." is outside`}}},
		{name: "certificate domains", builtin: "managed-zones", cfg: zones,
			input: doc(map[string]any{"resources": list(cert("nc", "nc.example.com", "*.home.example.net", "example.com"))})},
		{name: "certificate domain outside", builtin: "managed-zones", cfg: zones,
			input: doc(map[string]any{"resources": list(cert("nc", "nc.example.com", "nc.example.org"))}),
			want:  [][]string{{"acme.certificate/nc", `domain "nc.example.org" is not in a managed zone`}}},
		{name: "no zones configured: no check", builtin: "managed-zones",
			input: doc(map[string]any{"resources": list(record("evil", "example.org", "www"), cert("nc", "nc.example.org"))})},

		// capacity
		{name: "3 x 20 GiB on a 48 GiB node", builtin: "capacity",
			input: doc(map[string]any{"resources": threeBig, "live": liveNodes(map[string]int64{"pve": 48 * gib})}),
			want:  [][]string{{"node pve", "3 guests", "61440 MiB (60 GiB)", "49152 MiB (48 GiB)", "overcommit 1"}}},
		{name: "2 x 20 GiB fit", builtin: "capacity",
			input: doc(map[string]any{"resources": threeBig[:2], "live": liveNodes(map[string]int64{"pve": 48 * gib})})},
		{name: "exactly full fits", builtin: "capacity",
			input: doc(map[string]any{"resources": list(guest("a", "pve", 24576, true), guest("b", "pve", 24576, true)),
				"live": liveNodes(map[string]int64{"pve": 48 * gib})})},
		{name: "overcommit 1.5 lets 60 GiB fit on 48", builtin: "capacity", cfg: policy.Config{Overcommit: 1.5},
			input: doc(map[string]any{"resources": threeBig, "live": liveNodes(map[string]int64{"pve": 48 * gib})})},
		{name: "overcommit 0.8 in the message", builtin: "capacity", cfg: policy.Config{Overcommit: 0.8},
			input: doc(map[string]any{"resources": threeBig[:2], "live": liveNodes(map[string]int64{"pve": 48 * gib})}),
			want:  [][]string{{"40960 MiB (40 GiB)", "39321 MiB (38.4 GiB)", "overcommit 0.8"}}},
		{name: "per node", builtin: "capacity",
			input: doc(map[string]any{
				"resources": list(guest("a", "pve", 20480, true), guest("b", "pve2", 20480, true), guest("c", "pve2", 20480, true)),
				"live":      liveNodes(map[string]int64{"pve": 32 * gib, "pve2": 32 * gib}),
			}),
			want: [][]string{{"node pve2", "2 guests", "40960 MiB"}}},
		{name: "check time without capacities: no check", builtin: "capacity",
			input: doc(map[string]any{"resources": threeBig})},
		{name: "check time with configured capacity", builtin: "capacity",
			cfg:   policy.Config{Nodes: map[string]policy.Node{"pve": {Memory: 48 * gib}}},
			input: doc(map[string]any{"resources": threeBig}),
			want:  [][]string{{"node pve", "61440 MiB (60 GiB)", "49152 MiB (48 GiB)"}}},
		{name: "live state wins over configured capacity", builtin: "capacity",
			cfg:   policy.Config{Nodes: map[string]policy.Node{"pve": {Memory: 16 * gib}}},
			input: doc(map[string]any{"resources": threeBig[:2], "live": liveNodes(map[string]int64{"pve": 48 * gib})})},
		// capacity with two Proxmox clusters, each with a node "pve"
		{name: "clusters: one guest per cluster's pve fits (mixed they would not)", builtin: "capacity",
			input: doc(map[string]any{"resources": list(clustered("a", "hetzner", 20480), clustered("b", "flat1", 20480)),
				"live": liveClusters(map[string]int64{"hetzner": 32 * gib, "flat1": 32 * gib})})},
		{name: "clusters: the full cluster alone is named", builtin: "capacity",
			input: doc(map[string]any{"resources": list(clustered("a", "hetzner", 20480), clustered("b", "flat1", 20480), clustered("c", "flat1", 20480)),
				"live": liveClusters(map[string]int64{"hetzner": 32 * gib, "flat1": 32 * gib})}),
			want: [][]string{{"cluster flat1 node pve", "2 guests", "40960 MiB"}}},
		{name: "clusters: configured capacities apply to guests without a cluster only", builtin: "capacity",
			cfg:   policy.Config{Nodes: map[string]policy.Node{"pve": {Memory: 16 * gib}}},
			input: doc(map[string]any{"resources": list(clustered("a", "hetzner", 20480), clustered("b", "flat1", 20480))})},

		// freeipa-own-objects
		{name: "delete of the admin user", builtin: "freeipa-own-objects",
			input: doc(map[string]any{"plan": list(change("freeipa.user", "admin", "delete", map[string]any{"uid": "admin"}, nil))}),
			want:  [][]string{{"freeipa.user/admin would be deleted", "FreeIPA's own objects", "policy.disabled"}}},
		{name: "replace of trust admins under another resource name", builtin: "freeipa-own-objects",
			input: doc(map[string]any{"plan": list(change("freeipa.group", "ta", "replace", map[string]any{"name": "trust admins"}, map[string]any{"name": "trust admins"}))}),
			want:  [][]string{{"freeipa.group/ta would be replaced"}}},
		{name: "delete of a FreeIPA server's host", builtin: "freeipa-own-objects",
			input: doc(map[string]any{"plan": list(change("freeipa.host", "ipa1", "delete", map[string]any{"fqdn": "ipa1.int.mydomain", "ipaServer": true}, nil))}),
			want:  [][]string{{"freeipa.host/ipa1 would be deleted"}}},
		{name: "delete of a user of the repo's own", builtin: "freeipa-own-objects",
			input: doc(map[string]any{"plan": list(change("freeipa.user", "alice", "delete", map[string]any{"uid": "alice"}, nil), change("freeipa.group", "admins", "update", map[string]any{"name": "admins"}, map[string]any{"name": "admins"}))})},
		{name: "ipaservers removed from the repo (push time)", builtin: "freeipa-own-objects",
			input: doc(map[string]any{"previous": map[string]any{"resources": list(res("freeipa.hostgroup", "servers", map[string]any{"name": "ipaservers"}))}}),
			want:  [][]string{{"freeipa.hostgroup/servers would be deleted", "keep it in the repo"}}},
		{name: "ipaservers removed, at plan time: one finding", builtin: "freeipa-own-objects",
			input: doc(map[string]any{"previous": map[string]any{"resources": list(res("freeipa.hostgroup", "servers", map[string]any{"name": "ipaservers"}))},
				"plan": list(change("freeipa.hostgroup", "servers", "delete", map[string]any{"name": "ipaservers"}, nil))}),
			want: [][]string{{"freeipa.hostgroup/servers would be deleted"}}},
		{name: "admins without admin", builtin: "freeipa-own-objects",
			input: doc(map[string]any{"resources": list(res("freeipa.group", "admins", map[string]any{"name": "admins", "users": []any{"alice"}}))}),
			want:  [][]string{{"freeipa.group/admins: users must include admin"}}},
		{name: "admins with admin and more, or without a users list", builtin: "freeipa-own-objects",
			input: doc(map[string]any{"resources": list(res("freeipa.group", "admins", map[string]any{"name": "admins", "users": []any{"admin", "alice"}}),
				res("freeipa.group", "editors", map[string]any{"name": "editors"}))})},
		// enrolled-hosts
		{name: "delete of enrolled host", builtin: "enrolled-hosts",
			input: doc(map[string]any{"plan": list(change("freeipa.host", "nc.home.example.net", "delete", ipaHost(true, false), nil))}),
			want:  [][]string{{"freeipa.host/nc.home.example.net would be deleted", "enrolled", "deleteEnrolled: true"}}},
		{name: "replace of enrolled host", builtin: "enrolled-hosts",
			input: doc(map[string]any{"plan": list(change("freeipa.host", "nc", "replace", ipaHost(true, false), ipaHost(true, false)))}),
			want:  [][]string{{"freeipa.host/nc would be replaced"}}},
		{name: "delete of enrolled host with deleteEnrolled", builtin: "enrolled-hosts",
			input: doc(map[string]any{"plan": list(change("freeipa.host", "nc", "delete", ipaHost(true, true), nil))})},
		{name: "delete of host without keytab", builtin: "enrolled-hosts",
			input: doc(map[string]any{"plan": list(change("freeipa.host", "nc", "delete", ipaHost(false, false), nil))})},
		{name: "check time: no plan, no finding", builtin: "enrolled-hosts",
			input: doc(map[string]any{"previous": map[string]any{"resources": list(res("freeipa.host", "nc", map[string]any{"deleteEnrolled": false}))}})},
	}
	for _, tc := range tests {
		t.Run(tc.builtin+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got := eval(t, nil, only(tc.builtin, tc.cfg), tc.input)
			if len(got.Deny) != len(tc.want) {
				t.Fatalf("deny = %q, want %d findings", messages(got.Deny), len(tc.want))
			}
			for i, f := range got.Deny {
				if !containsAll(f.Message, tc.want[i]...) {
					t.Errorf("finding %q\nwant it to contain %q", f.Message, tc.want[i])
				}
				if f.Builtin != tc.builtin || f.File != "builtin/"+tc.builtin+".rego" || f.Line == 0 ||
					!strings.HasPrefix(f.Rule, "data.runner.builtin.") {
					t.Errorf("finding %+v is not attributed to built-in %s", f, tc.builtin)
				}
			}
			if len(got.Warn) != 0 {
				t.Errorf("warn = %q, want none", messages(got.Warn))
			}
		})
	}
}

// clustered is a guest on node pve of a Proxmox cluster.
func clustered(name, cluster string, memMiB int) map[string]any {
	return res("proxmox.lxc", name, map[string]any{"cluster": cluster, "node": "pve", "memory": memMiB, "protect": true})
}

// liveClusters is live.proxmox in the clusters form: a node "pve" of the
// given memory (bytes) in each cluster.
func liveClusters(pveMemory map[string]int64) map[string]any {
	cs := map[string]any{}
	for c, mem := range pveMemory {
		cs[c] = map[string]any{"nodes": map[string]any{"pve": map[string]any{"cpus": 16, "memory": mem}}}
	}
	return map[string]any{"proxmox": map[string]any{"clusters": cs}}
}

func TestDisableBuiltin(t *testing.T) {
	t.Parallel()
	input := doc(map[string]any{
		"resources": list(guest("a", "pve", 20480, true), guest("b", "pve", 20480, true), guest("c", "pve", 20480, true)),
		"plan":      list(change("proxmox.lxc", "old", "delete", map[string]any{"protect": true}, nil)),
		"live":      liveNodes(map[string]int64{"pve": 48 * gib}),
	})
	all := eval(t, nil, policy.Options{}, input)
	if len(all.Deny) != 2 {
		t.Fatalf("with all built-ins: deny = %q, want capacity and protected-guests", messages(all.Deny))
	}
	got := eval(t, nil, policy.Options{Disabled: []string{"capacity"}}, input)
	if len(got.Deny) != 1 || got.Deny[0].Builtin != "protected-guests" {
		t.Errorf("capacity disabled: deny = %+v, want only protected-guests", got.Deny)
	}
}
