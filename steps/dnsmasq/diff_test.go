package dnsmasq_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// Diff is line by line: the lines a spec renders against the lines the
// file has for the resource, order ignored; the notes list each line.
func TestDiff(t *testing.T) {
	t.Parallel()
	b := configured(t)
	fwd := func(spec string) steps.Spec { return steptest.Decode(t, b, dnsmasq.KindForward, spec) }
	host := func(spec string) steps.Spec { return steptest.Decode(t, b, dnsmasq.KindHost, spec) }
	const servers = "/etc/dnsmasq.runner/servers"
	const hosts = "/etc/dnsmasq.runner/hosts"
	f2 := fwd(`{"site": "flat1", "domain": "flat2.int.mydomain", "server": "192.168.2.1", "reverse": ["192.168.2.0/24"]}`)
	f2b := fwd(`{"site": "flat1", "domain": "flat2.int.mydomain", "server": "192.168.2.1", "reverse": ["192.168.3.0/24"]}`)
	web := host(`{"site": "flat1", "name": "web.flat1.int.mydomain", "ipv4": "192.168.1.5", "ipv6": "fd00:1::5"}`)
	for _, tc := range []struct {
		name   string
		kind   string
		want   steps.Spec
		last   steps.Spec
		live   *dnsmasq.Live
		action steps.Action
		notes  []string
		// blocked is a part of Change.Blocked ("": not blocked).
		blocked string
	}{
		{name: "create", kind: dnsmasq.KindForward, want: f2, action: steps.Create,
			notes: []string{servers + ": + server=/flat2.int.mydomain/192.168.2.1", servers + ": + rev-server=192.168.2.0/24,192.168.2.1"}},
		{name: "same lines in another order", kind: dnsmasq.KindForward, want: f2, last: f2, action: steps.NoOp,
			live: &dnsmasq.Live{Site: "flat1", File: servers, Lines: []string{"rev-server=192.168.2.0/24,192.168.2.1", "server=/flat2.int.mydomain/192.168.2.1"}}},
		{name: "a reverse network changes", kind: dnsmasq.KindForward, want: f2b, last: f2, action: steps.Update,
			live:  &dnsmasq.Live{Site: "flat1", File: servers, Lines: []string{"server=/flat2.int.mydomain/192.168.2.1", "rev-server=192.168.2.0/24,192.168.2.1"}},
			notes: []string{servers + ": - rev-server=192.168.2.0/24,192.168.2.1", servers + ": + rev-server=192.168.3.0/24,192.168.2.1"}},
		{name: "found without inventory: taken over", kind: dnsmasq.KindHost, want: web, action: steps.NoOp,
			live: &dnsmasq.Live{Site: "flat1", File: hosts, Lines: []string{"fd00:1::5 web.flat1.int.mydomain", "192.168.1.5 web.flat1.int.mydomain"}}},
		{name: "an address is dropped", kind: dnsmasq.KindHost, want: host(`{"site": "flat1", "name": "web.flat1.int.mydomain", "ipv4": "192.168.1.5"}`), last: web, action: steps.Update,
			live:  &dnsmasq.Live{Site: "flat1", File: hosts, Lines: []string{"192.168.1.5 web.flat1.int.mydomain", "fd00:1::5 web.flat1.int.mydomain"}},
			notes: []string{hosts + ": - fd00:1::5 web.flat1.int.mydomain"}},
		{name: "delete", kind: dnsmasq.KindHost, last: web, action: steps.Delete,
			live:  &dnsmasq.Live{Site: "flat1", File: hosts, Lines: []string{"192.168.1.5 web.flat1.int.mydomain"}},
			notes: []string{hosts + ": - 192.168.1.5 web.flat1.int.mydomain"}},
		{name: "a hand-written alias on a resource's line is taken over", kind: dnsmasq.KindHost, want: web, last: web, action: steps.Update,
			live:  &dnsmasq.Live{Site: "flat1", File: hosts, Lines: []string{"192.168.1.5 web.flat1.int.mydomain web-alias", "fd00:1::5 web.flat1.int.mydomain"}},
			notes: []string{hosts + ": - 192.168.1.5 web.flat1.int.mydomain web-alias", hosts + ": + 192.168.1.5 web.flat1.int.mydomain"}},
		{name: "delete, site unreachable: blocked", kind: dnsmasq.KindHost, last: web, action: steps.Delete,
			live:  &dnsmasq.Live{Site: "flat1", File: hosts, Unknown: "site flat1 unreachable: connection refused"},
			notes: []string{"not verified: its lines are unknown in this run"}, blocked: "site flat1 unreachable: connection refused"},
		{name: "move from an unreachable site: blocked", kind: dnsmasq.KindHost, want: web, last: host(`{"site": "flat2", "name": "web.flat1.int.mydomain", "ipv4": "192.168.2.5"}`),
			action: steps.Update, live: &dnsmasq.Live{Site: "flat1", Old: &dnsmasq.Live{Site: "flat2", Unknown: "site flat2 unreachable: timeout"}},
			notes: []string{"not verified: its lines are unknown in this run"}, blocked: "site flat2 unreachable: timeout"},
		{name: "delete, already gone", kind: dnsmasq.KindHost, last: web, action: steps.NoOp, notes: []string{"no lines left in the file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := steps.Target{ID: steps.ID{Kind: tc.kind, Name: "x"}, Want: tc.want, Last: tc.last}
			var have steps.Live
			if tc.live != nil {
				have = tc.live
			}
			c, err := b.Diff(tg, have)
			if err != nil {
				t.Fatal(err)
			}
			if c.Action != tc.action || !reflect.DeepEqual(c.Notes, tc.notes) {
				t.Errorf("got %s %q, want %s %q", c.Action, c.Notes, tc.action, tc.notes)
			}
			if (tc.blocked == "") != (c.Blocked == "") || !strings.Contains(c.Blocked, tc.blocked) {
				t.Errorf("blocked = %q, want %q", c.Blocked, tc.blocked)
			}
			if c.Action.Writes() && len(c.Fields) == 0 && c.Blocked == "" {
				t.Errorf("a change without field changes")
			}
		})
	}
}
