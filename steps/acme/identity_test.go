package acme

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
)

type noSolver struct{}

func (noSolver) Present(context.Context, string, string) error { return nil }
func (noSolver) CleanUp(context.Context, string, string) error { return nil }

// Identities names a certificate and the directory it deploys to, absolute
// under the certificate root, so two certificates writing one directory
// collide however their specs spell it.
func TestIdentities(t *testing.T) {
	t.Parallel()
	b, err := New(json.RawMessage(`{"directory":"letsencrypt-staging","certRoot":"/etc/letsencrypt","stateDir":"/var/lib/runner/acme"}`),
		&steps.Redactor{}, noSolver{})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(spec string) steps.Spec {
		t.Helper()
		s, err := b.Decode(Kind, json.RawMessage(spec))
		if err != nil {
			t.Fatalf("decode %s: %v", spec, err)
		}
		return s
	}
	tests := []struct {
		name, want, last string
		ids              []string
	}{
		{"web", `{"domains":["web.mydomain.com"]}`, "", []string{"cert:web", "dir:/etc/letsencrypt/live/web"}},
		{"other", `{"domains":["web.mydomain.com"],"deploy":{"dir":"live/web"}}`, "", []string{"cert:other", "dir:/etc/letsencrypt/live/web"}},
		{"abs", `{"domains":["a.mydomain.com"],"deploy":{"dir":"/etc/letsencrypt/apache/../live/web/"}}`, "", []string{"cert:abs", "dir:/etc/letsencrypt/live/web"}},
		{"own", `{"domains":["a.mydomain.com"],"deploy":{"dir":"nginx"}}`, "", []string{"cert:own", "dir:/etc/letsencrypt/nginx"}},
		{"gone", "", `{"domains":["old.mydomain.com"]}`, []string{"cert:gone", "dir:/etc/letsencrypt/live/gone"}},
		{"none", "", "", nil},
	}
	for _, tc := range tests {
		tg := steps.Target{ID: steps.ID{Kind: Kind, Name: tc.name}}
		if tc.want != "" {
			tg.Want = decode(tc.want)
		}
		if tc.last != "" {
			tg.Last = decode(tc.last)
		}
		if got := b.Identities(tg); !reflect.DeepEqual(got, tc.ids) {
			t.Errorf("%s: Identities = %q, want %q", tc.name, got, tc.ids)
		}
	}
}
