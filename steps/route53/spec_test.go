package route53

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// TestDecodeReportsEveryProblem: a record set with several bad fields gets
// one FieldError for each, not only the first; a field that did not decode
// is not reported again as missing (issue 17, item 3).
func TestDecodeReportsEveryProblem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want []string // fields with a problem
	}{
		{`{"zone":"mydomain.com","name":"blog","type":"A","ttl":-1,"values":["203.0.113.300","203.0.113.1","203.0.113.1"],"weight":10,"tll":5}`,
			[]string{"tll", "ttl", "values[0]", "values[2]", "weight"}},
		{`{"zone":"mydomain.com","name":"www","type":"CNAME","ttl":60,"values":["blog.mydomain.com"],"alias":{"name":"blog","evaluateTargetHealt":true}}`,
			[]string{"alias.evaluateTargetHealt", "ttl", "values"}},
		{`{"zone":"my domain.com","type":"MXX","values":"10 mail"}`,
			[]string{"type", "values", "zone"}},
	} {
		_, err := decodeSpec(json.RawMessage(tc.spec), nil)
		got := steptest.ProblemFields(err)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\nproblems in fields %v, want %v:\n%v", tc.spec, got, tc.want, err)
		}
		if strings.Contains(tc.spec, "values\":\"") && strings.Contains(err.Error(), "at least one value") {
			t.Errorf("a value that did not decode is reported again as missing:\n%v", err)
		}
	}
}
