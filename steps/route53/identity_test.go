package route53

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Identities names the record set however the spec writes its names: one
// zone, absolute lower-case name and type is one live object.
func TestIdentities(t *testing.T) {
	t.Parallel()
	b, err := New(nil, &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(spec string) Spec {
		t.Helper()
		s, err := b.Decode(Kind, json.RawMessage(spec))
		if err != nil {
			t.Fatalf("decode %s: %v", spec, err)
		}
		return s.(Spec)
	}
	www := "rrset:mydomain.com./www.mydomain.com./A"
	tests := []struct {
		name       string
		want, last string // specs; "" for none
		ids        []string
	}{
		{"relative", `{"zone":"mydomain.com","name":"www","type":"A","values":["192.0.2.1"]}`, "", []string{www}},
		{"absolute, mixed case, trailing dots", `{"zone":"MyDomain.com.","name":"WWW.mydomain.COM.","type":"a","values":["192.0.2.1"]}`, "", []string{www}},
		{"fully qualified without the dot", `{"zone":"mydomain.com","name":"www.mydomain.com","type":"A","values":["192.0.2.1"]}`, "", []string{www}},
		{"apex", `{"zone":"mydomain.com","name":"@","type":"TXT","values":["v=spf1 -all"]}`, "", []string{"rrset:mydomain.com./mydomain.com./TXT"}},
		{"wildcard", `{"zone":"mydomain.com","name":"*.apps","type":"A","values":["192.0.2.1"]}`, "", []string{"rrset:mydomain.com./*.apps.mydomain.com./A"}},
		{"other type, other set", `{"zone":"mydomain.com","name":"www","type":"AAAA","values":["2001:db8::1"]}`, "", []string{"rrset:mydomain.com./www.mydomain.com./AAAA"}},
		{"want wins over last", `{"zone":"mydomain.com","name":"www","type":"A","values":["192.0.2.1"]}`,
			`{"zone":"mydomain.com","name":"old","type":"A","values":["192.0.2.1"]}`, []string{www}},
		{"delete candidate: last", "", `{"zone":"mydomain.com","name":"www","type":"A","values":["192.0.2.9"]}`, []string{www}},
		{"neither", "", "", nil},
	}
	for _, tc := range tests {
		tg := steps.Target{ID: steps.ID{Kind: Kind, Name: "r"}}
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
