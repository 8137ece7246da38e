package freeipa_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/pipelinetest"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
)

// TestLibHelpers evaluates lib/freeipa.libsonnet and decodes every spec it
// builds with the backend: the helpers and the kinds agree.
func TestLibHelpers(t *testing.T) {
	t.Parallel()
	var rs []pipelinetest.Resource
	pipelinetest.EvalLib(t, `
local ipa = import 'freeipa.libsonnet';
local web = ipa.hostgroup('web', { description: 'Web' });
local h = ipa.host('web1.example.test', { force: true, hostGroups: [web, 'existing'], adopt: true });
local bob = ipa.user('bob', 'Bob', 'Builder', { email: ['bob@example.test'] });
local ops = ipa.group('ops', { users: [bob, 'alice'] });
[web, h, ipa.service('HTTP', h, { managedBy: ['proxy.example.test'] }), bob, ops,
 ipa.sudorule('ops', { hostGroups: [web], groups: [ops], commands: ['/usr/bin/systemctl'], options: ['!authenticate'], dependsOn: ['freeipa.user/bob'] })]
`, &rs)
	b, _ := freeipa.New(nil, nil)
	deps := map[string][]string{}
	for _, r := range rs {
		if _, err := b.Decode(r.Kind, r.Spec); err != nil {
			t.Errorf("%s/%s: %v in %s", r.Kind, r.Name, err, r.Spec)
		}
		deps[r.Kind+"/"+r.Name] = r.DependsOn
	}
	want := map[string][]string{
		"freeipa.hostgroup/web":                  nil,
		"freeipa.host/web1.example.test":         {"freeipa.hostgroup/web"},
		"freeipa.service/HTTP_web1.example.test": {"freeipa.host/web1.example.test"},
		"freeipa.user/bob":                       nil,
		"freeipa.group/ops":                      {"freeipa.user/bob"},
		"freeipa.sudorule/ops":                   {"freeipa.hostgroup/web", "freeipa.group/ops", "freeipa.user/bob"},
	}
	if !reflect.DeepEqual(deps, want) {
		t.Errorf("dependsOn = %v\nwant %v", deps, want)
	}
	if !rs[1].Adopt || string(rs[1].Spec) == "" {
		t.Errorf("host: %+v", rs[1])
	}
	var host freeipa.HostSpec
	if err := json.Unmarshal(rs[1].Spec, &host); err != nil || !reflect.DeepEqual(*host.HostGroups, []string{"web", "existing"}) {
		t.Errorf("host spec %s", rs[1].Spec)
	}
	var rule freeipa.SudoRuleSpec
	if err := json.Unmarshal(rs[5].Spec, &rule); err != nil || rule.Options == nil || !reflect.DeepEqual(*rule.Options, []string{"!authenticate"}) {
		t.Errorf("sudorule spec %s", rs[5].Spec)
	}
	var svc freeipa.ServiceSpec
	if err := json.Unmarshal(rs[2].Spec, &svc); err != nil || svc.Principal != "HTTP/web1.example.test" {
		t.Errorf("service spec %s", rs[2].Spec)
	}
}
