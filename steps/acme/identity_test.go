package acme

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
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
	steptest.CheckIdentities(t, b, Kind, []steptest.IdentityCase{
		{Name: "web", Want: `{"domains":["web.mydomain.com"]}`, IDs: []string{"cert:web", "dir:/etc/letsencrypt/live/web"}},
		{Name: "other", Want: `{"domains":["web.mydomain.com"],"deploy":{"dir":"live/web"}}`, IDs: []string{"cert:other", "dir:/etc/letsencrypt/live/web"}},
		{Name: "abs", Want: `{"domains":["a.mydomain.com"],"deploy":{"dir":"/etc/letsencrypt/apache/../live/web/"}}`, IDs: []string{"cert:abs", "dir:/etc/letsencrypt/live/web"}},
		{Name: "own", Want: `{"domains":["a.mydomain.com"],"deploy":{"dir":"nginx"}}`, IDs: []string{"cert:own", "dir:/etc/letsencrypt/nginx"}},
		{Name: "gone", Last: `{"domains":["old.mydomain.com"]}`, IDs: []string{"cert:gone", "dir:/etc/letsencrypt/live/gone"}},
		{Name: "none"},
	})
}
