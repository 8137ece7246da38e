package dnsmasq_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// configured is a backend with two local sites (nothing is read at New).
func configured(t *testing.T) *dnsmasq.Backend {
	t.Helper()
	b, err := dnsmasq.New(json.RawMessage(`{"sites": {
	  "flat1": {"domain": "flat1.int.mydomain", "subnet": "192.168.1.0/24", "subnet6": "fd00:1::/64",
	            "addnHosts": "/etc/dnsmasq.runner/hosts", "dhcpHostsfile": "/etc/dnsmasq.runner/dhcp-hosts",
	            "serversFile": "/etc/dnsmasq.runner/servers", "pidFile": "/run/dnsmasq/dnsmasq.pid"},
	  "flat2": {"domain": "flat2.int.mydomain", "subnet": "192.168.2.0/24",
	            "addnHosts": "/etc/dnsmasq.flat2/hosts", "dhcpHostsfile": "/etc/dnsmasq.flat2/dhcp-hosts",
	            "serversFile": "/etc/dnsmasq.flat2/servers", "reload": ["sudo", "systemctl", "reload", "dnsmasq"]}}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	t.Parallel()
	b := configured(t)
	unconfigured, err := dnsmasq.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, kind, spec string
		want             steps.Spec
		fields           []string // the fields the error names; nil = no error
		msg              string   // a part of the error
		unconfigured     bool     // decode without a config section
	}{
		{name: "host", kind: dnsmasq.KindHost, spec: `{"site": "flat1", "name": "Web.Flat1.int.mydomain.", "ipv4": "192.168.1.5", "ipv6": "fd00:1:0::5"}`,
			want: dnsmasq.HostSpec{Site: "flat1", Name: "web.flat1.int.mydomain", IPv4: "192.168.1.5", IPv6: "fd00:1::5"}},
		{name: "host outside subnet", kind: dnsmasq.KindHost, spec: `{"site": "flat1", "name": "web.flat1.int.mydomain", "ipv4": "192.168.2.5"}`,
			fields: []string{"ipv4"}, msg: "192.168.2.5 is outside site flat1's subnet 192.168.1.0/24"},
		{name: "host outside subnet6", kind: dnsmasq.KindHost, spec: `{"site": "flat1", "name": "web.flat1.int.mydomain", "ipv6": "fd00:2::5"}`,
			fields: []string{"ipv6"}, msg: "outside site flat1's subnet6"},
		{name: "host outside subnet, unconfigured", kind: dnsmasq.KindHost, unconfigured: true,
			spec: `{"site": "flat1", "name": "web.flat1.int.mydomain", "ipv4": "192.168.2.5"}`,
			want: dnsmasq.HostSpec{Site: "flat1", Name: "web.flat1.int.mydomain", IPv4: "192.168.2.5"}},
		{name: "host without address", kind: dnsmasq.KindHost, spec: `{"site": "flat1", "name": "web"}`,
			fields: []string{"ipv4"}, msg: "needs an address"},
		{name: "host bad name and unknown site", kind: dnsmasq.KindHost, spec: `{"site": "flat9", "name": "we_b", "ipv4": "192.168.1.5"}`,
			fields: []string{"name", "site"}, msg: `no site "flat9" in backends.dnsmasq.sites of the runner config (it has: flat1, flat2)`},
		{name: "host v6 in ipv4", kind: dnsmasq.KindHost, spec: `{"site": "flat1", "name": "web", "ipv4": "fd00:1::5"}`,
			fields: []string{"ipv4"}, msg: "is not an IPv4 address"},
		{name: "host unknown field", kind: dnsmasq.KindHost, spec: `{"site": "flat1", "name": "web", "ipv4": "192.168.1.5", "ttl": 5}`,
			fields: []string{"ttl"}},
		{name: "dhcp", kind: dnsmasq.KindDHCPHost, spec: `{"site": "flat1", "mac": "02-AA-bb-cc-dd-EE", "ip": "192.168.1.7", "hostname": "Web"}`,
			want: dnsmasq.DHCPHostSpec{Site: "flat1", MAC: "02:aa:bb:cc:dd:ee", IP: "192.168.1.7", Hostname: "web"}},
		{name: "dhcp bad mac", kind: dnsmasq.KindDHCPHost, spec: `{"site": "flat1", "mac": "02:aa:bb:cc:dd", "ip": "192.168.1.7", "hostname": "web"}`,
			fields: []string{"mac"}, msg: "is not an Ethernet address"},
		{name: "dhcp multicast mac", kind: dnsmasq.KindDHCPHost, spec: `{"site": "flat1", "mac": "01:aa:bb:cc:dd:ee", "ip": "192.168.1.7", "hostname": "web"}`,
			fields: []string{"mac"}, msg: "multicast"},
		{name: "dhcp ip outside, fqdn hostname", kind: dnsmasq.KindDHCPHost, spec: `{"site": "flat2", "mac": "02:aa:bb:cc:dd:ee", "ip": "192.168.1.7", "hostname": "web.flat2"}`,
			fields: []string{"hostname", "ip"}, msg: "outside site flat2's subnet 192.168.2.0/24"},
		{name: "dhcp broadcast", kind: dnsmasq.KindDHCPHost, spec: `{"site": "flat1", "mac": "02:aa:bb:cc:dd:ee", "ip": "192.168.1.255", "hostname": "web"}`,
			fields: []string{"ip"}, msg: "broadcast"},
		{name: "dhcp everything missing", kind: dnsmasq.KindDHCPHost, spec: `{}`,
			fields: []string{"hostname", "ip", "mac", "site"}},
		{name: "forward", kind: dnsmasq.KindForward, spec: `{"site": "flat1", "domain": "Flat2.int.mydomain", "server": "192.168.2.1", "port": 53, "reverse": ["192.168.2.0/24", "fd00:2::/64"]}`,
			want: dnsmasq.ForwardSpec{Site: "flat1", Domain: "flat2.int.mydomain", Server: "192.168.2.1", Reverse: []string{"192.168.2.0/24", "fd00:2::/64"}}},
		{name: "forward own domain", kind: dnsmasq.KindForward, spec: `{"site": "flat1", "domain": "int.mydomain", "server": "192.168.2.1"}`,
			fields: []string{"domain"}, msg: "own domain"},
		{name: "forward own subnet, host bits, bad port", kind: dnsmasq.KindForward,
			spec:   `{"site": "flat1", "domain": "flat2.int.mydomain", "server": "nameserver", "port": 70000, "reverse": ["192.168.0.0/16", "192.168.2.1/24"]}`,
			fields: []string{"port", "reverse[0]", "reverse[1]", "server"}, msg: "overlaps site flat1's own subnet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			be := b
			if tc.unconfigured {
				be = unconfigured
			}
			got, err := be.Decode(tc.kind, json.RawMessage(tc.spec))
			if tc.fields == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got %#v, want %#v", got, tc.want)
				}
				// Decode(json(spec)) is the spec: the inventory keeps it.
				raw, _ := json.Marshal(got)
				again, err := be.Decode(tc.kind, raw)
				if err != nil || !reflect.DeepEqual(again, got) {
					t.Fatalf("round trip: %#v, %v", again, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, got %#v", got)
			}
			if f := steptest.ProblemFields(err); !reflect.DeepEqual(f, tc.fields) {
				t.Errorf("fields %v, want %v: %v", f, tc.fields, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, cfg string
		want      []string
	}{
		{"no sites", `{"sites": {}}`, []string{"field sites: name at least one site"}},
		{"unknown field", `{"sites": {"a": {"domain": "a.x", "subnet": "10.0.0.0/24", "addnHosts": "/a/h", "dhcpHostsfile": "/a/d", "serversFile": "/a/s", "pidFile": "/p", "hosts": "/x"}}}`,
			[]string{"field sites.a.hosts: unknown field"}},
		{"bad site", `{"sites": {"a": {"domain": "a_x", "subnet": "10.0.0.0/33", "addnHosts": "rel/h", "dhcpHostsfile": "/a/s", "serversFile": "/a/s"}}}`,
			[]string{"field sites.a.domain:", "field sites.a.subnet:", "field sites.a.addnHosts: \"rel/h\": want a clean absolute path",
				"field sites.a.serversFile: /a/s is also dhcpHostsfile", "field sites.a.pidFile: give pidFile"}},
		{"both reloads, same domain", `{"sites": {
		  "a": {"domain": "a.x", "subnet": "10.0.0.0/24", "addnHosts": "/a/h", "dhcpHostsfile": "/a/d", "serversFile": "/a/s", "pidFile": "/p", "reload": ["kill"]},
		  "b": {"domain": "a.x", "subnet": "10.0.1.0/24", "addnHosts": "/b/h", "dhcpHostsfile": "/b/d", "serversFile": "/b/s", "pidFile": "/p"}}}`,
			[]string{"field sites.a.reload: give either pidFile or reload", "field sites.b.domain: a.x is also site a's domain"}},
		{"two sites, one file", `{"sites": {
		  "a": {"domain": "a.x", "subnet": "10.0.0.0/24", "addnHosts": "/a/h", "dhcpHostsfile": "/a/d", "serversFile": "/a/s", "pidFile": "/p"},
		  "b": {"domain": "b.x", "subnet": "10.0.1.0/24", "addnHosts": "/a/h", "dhcpHostsfile": "/b/d", "serversFile": "/a/s", "pidFile": "/p"}}}`,
			[]string{"field sites.b.addnHosts: /a/h is also site a's addnHosts (the runner's host): each site needs its own files",
				"field sites.b.serversFile: /a/s is also site a's serversFile"}},
		{"ssh without key", `{"sites": {"a": {"domain": "a.x", "subnet": "10.0.0.0/24", "addnHosts": "/a/h", "dhcpHostsfile": "/a/d", "serversFile": "/a/s", "pidFile": "/p",
		  "ssh": {"host": "dns.a.x", "identityFile": "/nonexistent/key"}}}}`,
			[]string{"field sites.a.ssh.user: is required", "field sites.a.ssh.identityFile: open /nonexistent/key", "field sites.a.ssh.knownHostsFile: is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := dnsmasq.New(json.RawMessage(tc.cfg), nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestIdentities(t *testing.T) {
	t.Parallel()
	b := configured(t)
	steptest.CheckIdentities(t, b, dnsmasq.KindHost, []steptest.IdentityCase{
		{Name: "web", Want: `{"site": "flat1", "name": "web.flat1.int.mydomain", "ipv4": "192.168.1.5"}`, IDs: []string{"flat1/host/web.flat1.int.mydomain"}},
		{Name: "gone", Last: `{"site": "flat2", "name": "db.flat2.int.mydomain", "ipv4": "192.168.2.5"}`, IDs: []string{"flat2/host/db.flat2.int.mydomain"}},
	})
	steptest.CheckIdentities(t, b, dnsmasq.KindDHCPHost, []steptest.IdentityCase{
		{Name: "web", Want: `{"site": "flat1", "mac": "02:AA:bb:cc:dd:ee", "ip": "192.168.1.7", "hostname": "web"}`,
			IDs: []string{"flat1/dhcp-mac/02:aa:bb:cc:dd:ee", "flat1/dhcp-ip/192.168.1.7"}},
	})
	steptest.CheckIdentities(t, b, dnsmasq.KindForward, []steptest.IdentityCase{
		{Name: "flat1-to-flat2", Want: `{"site": "flat1", "domain": "flat2.int.mydomain", "server": "192.168.2.1", "reverse": ["192.168.2.0/24"]}`,
			IDs: []string{"flat1/server/flat2.int.mydomain", "flat1/rev-server/192.168.2.0/24"}},
	})
}

// A resource last applied to a site that has since left the config: its
// inventory spec decodes with DecodeLast (Decode refuses it), and its
// delete is a blocked change that says what to do, without reading a file
// and without failing the other targets.
func TestSiteLeftTheConfig(t *testing.T) {
	t.Parallel()
	b := configured(t)
	raw := json.RawMessage(`{"site": "ovh", "name": "vpn.ovh.int.mydomain", "ipv4": "10.0.4.2"}`)
	if _, err := b.Decode(dnsmasq.KindHost, raw); err == nil || !strings.Contains(err.Error(), `no site "ovh"`) {
		t.Fatalf("Decode: %v, want no site ovh", err)
	}
	last, err := b.DecodeLast(dnsmasq.KindHost, raw)
	if err != nil {
		t.Fatalf("DecodeLast: %v", err)
	}
	if _, err := b.DecodeLast(dnsmasq.KindHost, json.RawMessage(`{"site": "ovh", "name": "vpn", "ipv4": "10.0.4.2", "extra": 1}`)); err == nil {
		t.Errorf("DecodeLast took an unknown field")
	}
	tg := steps.Target{ID: steps.ID{Kind: dnsmasq.KindHost, Name: "vpn"}, Last: last}
	live, err := b.Observe(t.Context(), []steps.Target{tg})
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	c, err := b.Diff(tg, live[tg.ID])
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	if c.Action != steps.Delete || !strings.Contains(c.Blocked, "site ovh is no longer in backends.dnsmasq.sites") ||
		!strings.Contains(c.Blocked, "put the site back into the config for one run") {
		t.Errorf("got %s blocked %q", c.Action, c.Blocked)
	}
}
