package route53

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

func TestDecodeNormalizesAndRoundTrips(t *testing.T) {
	t.Parallel()
	b, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ttl := func(n int64) *int64 { return &n }
	tests := []struct {
		in   string
		want Spec
	}{
		{`{"zone":"MyDomain.com.","name":"Blog","type":"a","values":["203.0.113.10"]}`,
			Spec{Zone: "mydomain.com", Name: "blog.mydomain.com", Type: "A", TTL: ttl(300), Values: []string{"203.0.113.10"}}},
		{`{"zone":"mydomain.com","name":"blog.mydomain.com","type":"A","ttl":0,"values":["203.0.113.11","203.0.113.10"]}`,
			Spec{Zone: "mydomain.com", Name: "blog.mydomain.com", Type: "A", TTL: ttl(0), Values: []string{"203.0.113.10", "203.0.113.11"}}},
		{`{"zone":"mydomain.com","name":"www.mydomain.com.","type":"CNAME","values":["Blog.MyDomain.com"]}`,
			Spec{Zone: "mydomain.com", Name: "www.mydomain.com", Type: "CNAME", TTL: ttl(300), Values: []string{"blog.mydomain.com."}}},
		{`{"zone":"mydomain.com","name":"*.apps","type":"AAAA","values":["2001:DB8:0:0::1"]}`,
			Spec{Zone: "mydomain.com", Name: "*.apps.mydomain.com", Type: "AAAA", TTL: ttl(300), Values: []string{"2001:db8::1"}}},
		{`{"zone":"mydomain.com","name":"@","type":"TXT","values":["v=spf1 -all"]}`,
			Spec{Zone: "mydomain.com", Name: "mydomain.com", Type: "TXT", TTL: ttl(300), Values: []string{"v=spf1 -all"}}},
		{`{"zone":"mydomain.com","name":"","type":"MX","ttl":3600,"values":["10  Mail.mydomain.com"]}`,
			Spec{Zone: "mydomain.com", Name: "mydomain.com", Type: "MX", TTL: ttl(3600), Values: []string{"10 mail.mydomain.com."}}},
		{`{"zone":"mydomain.com","name":"_sip._tcp","type":"SRV","values":["10 5 5060 sip.mydomain.com"]}`,
			Spec{Zone: "mydomain.com", Name: "_sip._tcp.mydomain.com", Type: "SRV", TTL: ttl(300), Values: []string{"10 5 5060 sip.mydomain.com."}}},
		{`{"zone":"mydomain.com","name":"@","type":"CAA","values":["0 issue letsencrypt.org"]}`,
			Spec{Zone: "mydomain.com", Name: "mydomain.com", Type: "CAA", TTL: ttl(300), Values: []string{`0 issue "letsencrypt.org"`}}},
		{`{"zone":"mydomain.com","name":"lab","type":"NS","values":["ns1.lab.mydomain.com"]}`,
			Spec{Zone: "mydomain.com", Name: "lab.mydomain.com", Type: "NS", TTL: ttl(300), Values: []string{"ns1.lab.mydomain.com."}}},
		{`{"zone":"mydomain.com","name":"@","type":"A","alias":{"name":"blog"}}`,
			Spec{Zone: "mydomain.com", Name: "mydomain.com", Type: "A", Alias: &Alias{Name: "blog.mydomain.com"}}},
	}
	for _, tc := range tests {
		got, err := b.Decode(Kind, json.RawMessage(tc.in))
		if err != nil {
			t.Errorf("Decode(%s): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Decode(%s)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
		// The inventory stores json.Marshal(spec); it must decode to the same.
		js, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		again, err := b.Decode(Kind, js)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("round trip of %s: got %+v, %v", js, again, err)
		}
	}
}

func TestDecodeRefusesBadInput(t *testing.T) {
	t.Parallel()
	b, err := New(json.RawMessage(`{"zones":["mydomain.com","other.org"]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, field, msg string
	}{
		{`{"zone":"mydomain.com","name":"x.example.net.","type":"A","values":["192.0.2.1"]}`, "name", "outside zone mydomain.com"},
		{`{"zone":"mydomain.com","name":"@","type":"CNAME","values":["blog.mydomain.com"]}`, "name", "not allowed at the zone apex"},
		{`{"zone":"mydomain.com","name":"www","type":"A","values":["192.0.2.300"]}`, "values[0]", "not an IPv4 address"},
		{`{"zone":"mydomain.com","name":"www","type":"A","values":["2001:db8::1"]}`, "values[0]", "not an IPv4 address"},
		{`{"zone":"mydomain.com","name":"www","type":"AAAA","values":["192.0.2.1"]}`, "values[0]", "not an IPv6 address"},
		{`{"zone":"mydomain.com","name":"www","type":"A","ttl":-1,"values":["192.0.2.1"]}`, "ttl", "out of range"},
		{`{"zone":"mydomain.com","name":"www","type":"A","ttl":2147483648,"values":["192.0.2.1"]}`, "ttl", "out of range"},
		{`{"zone":"mydomain.com","name":"www","type":"A","weight":10,"setIdentifier":"a","values":["192.0.2.1"]}`, "setIdentifier", "routing policies"},
		{`{"zone":"mydomain.com","name":"www","type":"A","geoLocation":{"countryCode":"DE"},"values":["192.0.2.1"]}`, "geoLocation", "routing policies"},
		{`{"zone":"mydomain.com","name":"@","type":"SOA","values":["x"]}`, "type", "never changed"},
		{`{"zone":"mydomain.com","name":"@","type":"NS","values":["ns1.example.net"]}`, "type", "never changed"},
		{`{"zone":"mydomain.com","name":"www","type":"PTR","values":["x.example.net"]}`, "type", "not supported"},
		{`{"zone":"mydomain.com","name":"www","type":"A"}`, "values", "at least one value"},
		{`{"zone":"mydomain.com","name":"www","type":"A","values":["192.0.2.1","192.0.2.1"]}`, "values[1]", "duplicate"},
		{`{"zone":"mydomain.com","name":"www","type":"CNAME","values":["a.example.net","b.example.net"]}`, "values", "exactly one value"},
		{`{"zone":"mydomain.com","name":"www","type":"CNAME","values":["blog"]}`, "values[0]", "not a fully qualified name"},
		{`{"zone":"mydomain.com","name":"www","type":"MX","values":["mail.mydomain.com"]}`, "values[0]", "PRIORITY HOST"},
		{`{"zone":"mydomain.com","name":"www","type":"TXT","values":["` + strings.Repeat("x", 17000) + `"]}`, "values[0]", "at most 16000"},
		{`{"zone":"mydomain.com","name":"www","type":"TXT","values":["` + strings.Repeat("x", 9000) + `","` + strings.Repeat("y", 9000) + `"]}`, "values", "too long"},
		{`{"zone":"mydomain.com","name":"www","type":"A","ttl":60,"alias":{"name":"blog"}}`, "ttl", "no TTL"},
		{`{"zone":"mydomain.com","name":"www","type":"A","alias":{"name":"x.example.net."}}`, "alias.name", "outside zone"},
		{`{"zone":"mydomain.com","name":"www","type":"A","alias":{"name":"blog","zone":"x"}}`, "alias.zone", "unknown field"},
		{`{"zone":"mydomain.com","name":"www","type":"A","value":["192.0.2.1"]}`, "value", "unknown field"},
		{`{"zone":"mydomain.com","name":"bad name","type":"A","values":["192.0.2.1"]}`, "name", "not allowed in a domain name"},
		{`{"zone":"example.net","name":"www","type":"A","values":["192.0.2.1"]}`, "zone", "allows only mydomain.com, other.org"},
		{`{"name":"www","type":"A","values":["192.0.2.1"]}`, "zone", "hosted zone's name"},
	}
	for _, tc := range tests {
		_, err := b.Decode(Kind, json.RawMessage(tc.in))
		var fe *steps.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Decode(%.80s): %v, want a *steps.FieldError", tc.in, err)
			continue
		}
		if fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("Decode(%.80s) = field %q: %s\nwant field %q with %q", tc.in, fe.Field, fe.Msg, tc.field, tc.msg)
		}
	}
}

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

func TestTXTWireSplitsAndQuotes(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 300) + `"q"\` + "é"
	tests := []struct{ plain, wire string }{
		{"hello", `"hello"`},
		{"", `""`},
		{`say "hi"`, `"say \"hi\""`},
		{strings.Repeat("x", 255), `"` + strings.Repeat("x", 255) + `"`},
		{strings.Repeat("x", 256), `"` + strings.Repeat("x", 255) + `" "x"`},
		{long, `"` + strings.Repeat("a", 255) + `" "` + strings.Repeat("a", 45) + `\"q\"\\\303\251"`},
	}
	for _, tc := range tests {
		if got := txtWire(tc.plain); got != tc.wire {
			t.Errorf("txtWire(%.20q) = %.80q, want %.80q", tc.plain, got, tc.wire)
		}
		if got := txtPlain(tc.wire); got != tc.plain {
			t.Errorf("txtPlain(%.80q) = %.20q, want %.20q", tc.wire, got, tc.plain)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct{ cfg, field string }{
		{`{"regoin":"x"}`, "regoin"},
		{`{"accessKeyId":{"env":"X"}}`, "accessKeyId"},
		{`{"batchSize":5000}`, "batchSize"},
		{`{"accessKeyId":{"file":"/nonexistent/key"},"secretAccessKey":{"env":"NOPE_NOT_SET_R53"}}`, "accessKeyId"},
		{`{"zones":["bad zone"]}`, "zones[0]"},
	}
	for _, tc := range tests {
		_, err := New(json.RawMessage(tc.cfg), &steps.Redactor{})
		var fe *steps.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("New(%s) = %v, want a field error for %s", tc.cfg, err, tc.field)
		}
	}
	if _, err := New(json.RawMessage(`{"changeTimeout":"soon"}`), nil); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Errorf("bad duration: %v", err)
	}
}
