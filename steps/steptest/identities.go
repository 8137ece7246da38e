package steptest

import (
	"reflect"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
)

// IdentityCase is a row of a backend's Identities table: a target named
// Name with the desired spec Want and the last applied spec Last (JSON; ""
// for none), and the identities it should have.
type IdentityCase struct {
	Name       string
	Want, Last string
	IDs        []string
}

// IdentifierBackend is a backend that names the live objects of its targets.
type IdentifierBackend interface {
	steps.Backend
	steps.Identifier
}

// CheckIdentities decodes each case's specs of kind with b and checks the
// identities b gives the target.
func CheckIdentities(t *testing.T, b IdentifierBackend, kind string, cases []IdentityCase) {
	t.Helper()
	for _, tc := range cases {
		tg := steps.Target{ID: steps.ID{Kind: kind, Name: tc.Name}, Want: Decode(t, b, kind, tc.Want), Last: Decode(t, b, kind, tc.Last)}
		if got := b.Identities(tg); !reflect.DeepEqual(got, tc.IDs) {
			t.Errorf("%s: Identities = %q, want %q", tc.Name, got, tc.IDs)
		}
	}
}
