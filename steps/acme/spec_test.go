package acme

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// TestDecodeReportsEveryProblem: a certificate spec with several bad fields
// gets one FieldError for each, not only the first (issue 17, item 3).
func TestDecodeReportsEveryProblem(t *testing.T) {
	t.Parallel()
	spec := `{"domains":["a.mydomain.com","www.other.org"],"keyTyp":"rsa2048","challenge":"http-01","deploy":{"keyMode":"0644","mode":"rw"}}`
	_, err := decodeSpec(json.RawMessage(spec), testSettings(t))
	got := steptest.ProblemFields(err)
	want := []string{"challenge", "deploy.keyMode", "deploy.mode", "domains[1]", "keyTyp"}
	if !slices.Equal(got, want) {
		t.Errorf("problems in fields %v, want %v:\n%v", got, want, err)
	}
	if !strings.Contains(err.Error(), `did you mean "keyType"?`) {
		t.Errorf("no suggestion for keyTyp:\n%v", err)
	}
}
