package acme

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-jsonnet"
)

// The Jsonnet library and the homelab example build certificates that
// this backend decodes.
func TestHomelabCertificates(t *testing.T) {
	t.Parallel()
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{"../../lib", "../../examples/homelab"}})
	out, err := vm.EvaluateAnonymousSnippet("main.jsonnet", `
		local certs = import 'certs.libsonnet';
		certs(import 'homelab.libsonnet', { reload: ['/usr/bin/systemctl', 'reload', 'apache2'] })`)
	if err != nil {
		t.Fatal(err)
	}
	var rs []struct {
		Kind, Name string
		Spec       json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatal(err)
	}
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
	_, err = vm.EvaluateAnonymousSnippet("bad.jsonnet", `(import 'acme.libsonnet').certificate('x', ['x.mydomain.com'], { keytype: 'rsa2048' })`)
	if err == nil || !strings.Contains(err.Error(), "unknown option(s) keytype") {
		t.Fatalf("unknown option: %v", err)
	}
}
