package acme

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-jsonnet"

	"github.com/gitops-runner/gitops-runner/steps"
)

// The Jsonnet library and the homelab example build certificates that
// this backend decodes.
type resource struct {
	Kind, Name string
	Spec       json.RawMessage
}

func homelabCerts(t *testing.T, vm *jsonnet.VM, opts string) []resource {
	t.Helper()
	out, err := vm.EvaluateAnonymousSnippet("main.jsonnet", `
		local certs = import 'certs.libsonnet';
		certs(import 'homelab.libsonnet', `+opts+`)`)
	if err != nil {
		t.Fatal(err)
	}
	var rs []resource
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

func homelabVM() *jsonnet.VM {
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{"../../lib", "../../examples/homelab"}})
	return vm
}

func TestHomelabCertificates(t *testing.T) {
	t.Parallel()
	vm := homelabVM()
	rs := homelabCerts(t, vm, `{ reload: ['/usr/bin/systemctl', 'reload', 'apache2'] }`)
	cfg := testSettings(t)
	got := map[string][]string{}
	for _, r := range rs {
		if r.Kind != Kind {
			t.Fatalf("%s has kind %s", r.Name, r.Kind)
		}
		s, err := decodeSpec(r.Spec, cfg)
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		if s.Deploy.Reload == nil {
			t.Fatalf("%s: no reload command", r.Name)
		}
		got[r.Name] = s.Domains
	}
	want := map[string][]string{
		"nextcloud": {"cloud.mydomain.com"}, "blog": {"blog.mydomain.com", "www.mydomain.com"},
		"dokku": {"apps.mydomain.com", "*.apps.mydomain.com"}, "discourse": {"forum.mydomain.com"},
		"grafana": {"grafana.mydomain.com"}, "ipsilon": {"sso.mydomain.com"}, "gitolite": {"git.mydomain.com"},
		"proxy": {"netdata.mydomain.com"}, "nagios-internal": {"nagios.mydomain.com"},
	}
	if len(got) != len(want) {
		t.Fatalf("certificates %v, want %v", got, want)
	}
	for n, ds := range want {
		if !slices.Equal(got[n], ds) {
			t.Errorf("%s: %v, want %v", n, got[n], ds)
		}
	}

	// The library refuses options it does not know.
	_, err := vm.EvaluateAnonymousSnippet("bad.jsonnet", `(import 'acme.libsonnet').certificate('x', ['x.mydomain.com'], { keytype: 'rsa2048' })`)
	if err == nil || !strings.Contains(err.Error(), "unknown option(s) keytype") {
		t.Fatalf("unknown option: %v", err)
	}
}

// Every certificate of the homelab example is issued by Pebble, through the
// simulated mydomain.com zone, verifies against Pebble's root, and a second
// run orders nothing.
func TestHomelabIssue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{zone: "mydomain.com"})
	w := &world{b: e.backend(nil), inventory: map[steps.ID]steps.Spec{}}
	desired := map[string]string{}
	for _, r := range homelabCerts(t, homelabVM(), "{}") {
		desired[r.Name] = string(r.Spec)
	}
	r := w.run(t, desired)
	if err := r.failed(); err != nil {
		t.Fatal(err)
	}
	if n := r.plan.Counts()[steps.Create]; n != len(desired) || int(e.orders.Load()) != n {
		t.Fatalf("%d creates, %d orders for %d certificates", n, e.orders.Load(), len(desired))
	}
	for _, c := range r.plan.Changes {
		e.verify(c.ID.Name, c.Target.Want.(Spec).Domains...)
	}
	r = w.run(t, desired)
	if r.plan.Changed() != 0 || int(e.orders.Load()) != len(desired) {
		t.Fatalf("second run: %d changes, %d orders", r.plan.Changed(), int(e.orders.Load())-len(desired))
	}
}
