package route53

import (
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// Identities names the record set however the spec writes its names: one
// zone, absolute lower-case name and type is one live object.
func TestIdentities(t *testing.T) {
	t.Parallel()
	b, err := New(nil, &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	www := "rrset:mydomain.com./www.mydomain.com./A"
	steptest.CheckIdentities(t, b, Kind, []steptest.IdentityCase{
		{Name: "relative", Want: `{"zone":"mydomain.com","name":"www","type":"A","values":["192.0.2.1"]}`, IDs: []string{www}},
		{Name: "absolute, mixed case, trailing dots", Want: `{"zone":"MyDomain.com.","name":"WWW.mydomain.COM.","type":"a","values":["192.0.2.1"]}`, IDs: []string{www}},
		{Name: "fully qualified without the dot", Want: `{"zone":"mydomain.com","name":"www.mydomain.com","type":"A","values":["192.0.2.1"]}`, IDs: []string{www}},
		{Name: "apex", Want: `{"zone":"mydomain.com","name":"@","type":"TXT","values":["v=spf1 -all"]}`, IDs: []string{"rrset:mydomain.com./mydomain.com./TXT"}},
		{Name: "wildcard", Want: `{"zone":"mydomain.com","name":"*.apps","type":"A","values":["192.0.2.1"]}`, IDs: []string{"rrset:mydomain.com./*.apps.mydomain.com./A"}},
		{Name: "other type, other set", Want: `{"zone":"mydomain.com","name":"www","type":"AAAA","values":["2001:db8::1"]}`, IDs: []string{"rrset:mydomain.com./www.mydomain.com./AAAA"}},
		{Name: "want wins over last", Want: `{"zone":"mydomain.com","name":"www","type":"A","values":["192.0.2.1"]}`, Last: `{"zone":"mydomain.com","name":"old","type":"A","values":["192.0.2.1"]}`, IDs: []string{www}},
		{Name: "delete candidate: last", Last: `{"zone":"mydomain.com","name":"www","type":"A","values":["192.0.2.9"]}`, IDs: []string{www}},
		{Name: "neither"},
	})
}
