package freeipa_test

import (
	"reflect"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// Identities names the FreeIPA object by kind and lower-case name: FreeIPA
// matches names without regard to case, so "Admins" and "admins" are one
// sudo rule.
func TestIdentities(t *testing.T) {
	t.Parallel()
	b, err := freeipa.New(nil, &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind       string
		want, last string
		ids        []string
	}{
		{freeipa.KindUser, `{"uid":"alice","firstName":"Alice","lastName":"Liddell"}`, "", []string{"freeipa.user:alice"}},
		{freeipa.KindGroup, `{"name":"admins"}`, "", []string{"freeipa.group:admins"}},
		{freeipa.KindHost, `{"fqdn":"web1.example.test"}`, "", []string{"freeipa.host:web1.example.test"}},
		{freeipa.KindHostGroup, `{"name":"web"}`, "", []string{"freeipa.hostgroup:web"}},
		{freeipa.KindService, `{"principal":"HTTP/web1.example.test"}`, "", []string{"freeipa.service:http/web1.example.test"}},
		{freeipa.KindSudoRule, `{"name":"Admins-All"}`, "", []string{"freeipa.sudorule:admins-all"}},
		// A delete candidate is named by its last applied spec.
		{freeipa.KindUser, "", `{"uid":"bob","firstName":"Bob","lastName":"B"}`, []string{"freeipa.user:bob"}},
		{freeipa.KindUser, `{"uid":"carol","firstName":"C","lastName":"C"}`, `{"uid":"bob","firstName":"Bob","lastName":"B"}`, []string{"freeipa.user:carol"}},
		{freeipa.KindUser, "", "", nil},
		{"freeipa.nope", "", "", nil},
	}
	for _, tc := range tests {
		tg := steps.Target{ID: steps.ID{Kind: tc.kind, Name: "r"}, Want: steptest.Decode(t, b, tc.kind, tc.want), Last: steptest.Decode(t, b, tc.kind, tc.last)}
		if got := b.Identities(tg); !reflect.DeepEqual(got, tc.ids) {
			t.Errorf("%s %s: Identities = %q, want %q", tc.kind, tc.want+tc.last, got, tc.ids)
		}
	}
	// Two sudo rules differing only in case are one identity.
	a := b.Identities(steps.Target{ID: steps.ID{Kind: freeipa.KindSudoRule, Name: "a"}, Want: steptest.Decode(t, b, freeipa.KindSudoRule, `{"name":"Admins"}`)})
	c := b.Identities(steps.Target{ID: steps.ID{Kind: freeipa.KindSudoRule, Name: "b"}, Want: steptest.Decode(t, b, freeipa.KindSudoRule, `{"name":"admins"}`)})
	if !reflect.DeepEqual(a, c) {
		t.Errorf("Admins %q and admins %q differ", a, c)
	}
}
