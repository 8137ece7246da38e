package freeipa_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
)

func TestDecodeBadInput(t *testing.T) {
	t.Parallel()
	b, err := freeipa.New(json.RawMessage(`{"url":"https://ipa.example.test","user":"admin","password":{"env":"PATH"},"domains":["example.test"]}`), &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		kind, spec, field, msg string
	}{
		{freeipa.KindHost, `{"fqdn":"web1.other.test"}`, "fqdn", "not in a domain this FreeIPA manages"},
		{freeipa.KindHost, `{"fqdn":"web1"}`, "fqdn", "not fully qualified"},
		{freeipa.KindHost, `{"fqdn":"Web1.example.test"}`, "fqdn", "lower case"},
		{freeipa.KindHost, `{"fqdn":"web_1.example.test"}`, "fqdn", "not a valid host name"},
		{freeipa.KindHost, `{}`, "fqdn", "is required"},
		{freeipa.KindHost, `{"fqdn":"a.example.test","ipAddress":"10.0.0.300"}`, "ipAddress", "not an IP address"},
		{freeipa.KindHost, `{"fqdn":"a.example.test","hostGroups":["web","web"]}`, "hostGroups", "listed twice"},
		{freeipa.KindHost, `{"fqdn":"a.example.test","hostgroups":["web"]}`, "hostgroups", "unknown field"},
		{freeipa.KindHost, `{"fqdn":"a.example.test","managedBy":["b"]}`, "managedBy[0]", "not fully qualified"},
		{freeipa.KindHost, `{"fqdn":"a.example.test","force":"yes"}`, "force", "true or false"},
		{freeipa.KindHostGroup, `{"name":"Web"}`, "name", "lower case"},
		{freeipa.KindService, `{"principal":"HTTP/web1.example.test@EXAMPLE.TEST"}`, "principal", "without the realm"},
		{freeipa.KindService, `{"principal":"web1.example.test"}`, "principal", "SERVICE/HOST"},
		{freeipa.KindUser, `{"uid":"bob","firstName":"Bob"}`, "lastName", "is required"},
		{freeipa.KindUser, `{"uid":"bob","firstName":"Bob","lastName":"B","password":"x"}`, "password", "unknown field"},
		{freeipa.KindGroup, `{"name":"ops","users":["Bob"]}`, "users[0]", "lower case"},
		{freeipa.KindSudoRule, `{"name":"r","allHosts":true,"hosts":["a.example.test"]}`, "allHosts", "cannot be combined"},
		{freeipa.KindSudoRule, `{"name":"r","commands":["systemctl"]}`, "commands[0]", "full path"},
		{freeipa.KindSudoRule, `{"name":"r","options":[""]}`, "options[0]", "sudoers option"},
		{freeipa.KindSudoRule, `{"name":"r","options":[" !authenticate"]}`, "options[0]", "surrounding spaces"},
		{freeipa.KindSudoRule, `{"name":"r","options":["!authenticate","!authenticate"]}`, "options", "listed twice"},
	}
	for _, c := range cases {
		_, err := b.Decode(c.kind, json.RawMessage(c.spec))
		var fe *steps.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Msg, c.msg) {
			t.Errorf("%s %s: %v, want field %s: %q", c.kind, c.spec, err, c.field, c.msg)
		}
	}
	if _, err := b.Decode("freeipa.dnsrecord", json.RawMessage(`{}`)); err == nil {
		t.Error("unknown kind accepted")
	}
}

// TestDecodeReportsEveryProblem: a spec with several bad fields fails with
// one *steps.FieldError per field, in field order, so one push shows them
// all.
func TestDecodeReportsEveryProblem(t *testing.T) {
	t.Parallel()
	b, err := freeipa.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind, spec string
		fields     []string
	}{
		{freeipa.KindHost, `{"fqdn":"Web1.example.test","hostGroups":["Web","ok","DB"],"managedBy":["b"]}`,
			[]string{"fqdn", "hostGroups[0]", "hostGroups[2]", "managedBy[0]"}},
		{freeipa.KindUser, `{"uid":"Bob"}`, []string{"uid", "firstName", "lastName"}},
		{freeipa.KindGroup, `{"name":"Ops","users":["Bob","bob2","bob2"]}`, []string{"name", "users[0]", "users"}},
		{freeipa.KindSudoRule, `{"name":"r","allUsers":true,"users":["Bob"],"commands":["ls"],"options":[""]}`,
			[]string{"allUsers", "users[0]", "commands[0]", "options[0]"}},
	} {
		_, err := b.Decode(tc.kind, json.RawMessage(tc.spec))
		var got []string
		for _, e := range flatten(err) {
			var fe *steps.FieldError
			if !errors.As(e, &fe) {
				t.Fatalf("%s: %v is not a FieldError", tc.kind, e)
			}
			got = append(got, fe.Field)
		}
		if !reflect.DeepEqual(got, tc.fields) {
			t.Errorf("%s %s: fields %q, want %q (%v)", tc.kind, tc.spec, got, tc.fields, err)
		}
	}
}

// flatten lists the errors of an errors.Join (err itself otherwise).
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // the joined list itself
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// The inventory keeps json.Marshal(spec); it must decode to the same spec.
func TestDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	b, err := freeipa.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]string{
		freeipa.KindHost:      `{"fqdn":"a.example.test","description":"","locality":"x","location":"rack 1","ipAddress":"10.0.0.1","force":true,"hostGroups":[],"managedBy":["b.example.test"],"oneTimePassword":false,"deleteEnrolled":true}`,
		freeipa.KindHostGroup: `{"name":"web","description":"d","hosts":["a.example.test"],"hostGroups":[]}`,
		freeipa.KindService:   `{"principal":"HTTP/a.example.test","managedBy":[],"force":true}`,
		freeipa.KindUser:      `{"uid":"bob","firstName":"Bob","lastName":"B","email":["b@example.test"],"loginShell":"/bin/bash","title":""}`,
		freeipa.KindGroup:     `{"name":"ops","description":"d","users":["bob"],"groups":[],"nonPosix":true}`,
		freeipa.KindSudoRule:  `{"name":"admins","description":"d","enabled":false,"allHosts":true,"users":["bob"],"groups":[],"allCommands":true,"options":["!authenticate"]}`,
	}
	for kind, raw := range specs {
		s1, err := b.Decode(kind, json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		enc, err := json.Marshal(s1)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := b.Decode(kind, enc)
		if err != nil || !reflect.DeepEqual(s1, s2) {
			t.Errorf("%s: %s → %#v, %v", kind, enc, s2, err)
		}
		// Nothing is lost: the JSON is the same as the input's.
		var a, bb any
		_ = json.Unmarshal([]byte(raw), &a)
		_ = json.Unmarshal(enc, &bb)
		if !reflect.DeepEqual(a, bb) {
			t.Errorf("%s: %s != %s", kind, enc, raw)
		}
	}
}

// An inventory spec decodes as it was applied (DecodeLast): a host of a
// domain taken out of backends.freeipa.domains can still be deleted; the
// spec's own shape is still checked.
func TestDecodeLastIgnoresDomains(t *testing.T) {
	t.Parallel()
	b, err := freeipa.New(json.RawMessage(`{"url":"https://ipa.example.test","user":"admin","password":{"env":"PATH"},"domains":["example.test"]}`), &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	old := json.RawMessage(`{"fqdn":"web1.other.test"}`)
	if _, err := b.Decode(freeipa.KindHost, old); err == nil {
		t.Fatal("Decode accepts a host outside the configured domains")
	}
	if s, err := b.DecodeLast(freeipa.KindHost, old); err != nil || s.(freeipa.HostSpec).FQDN != "web1.other.test" {
		t.Fatalf("DecodeLast = %+v, %v; want the host", s, err)
	}
	if _, err := b.DecodeLast(freeipa.KindHost, json.RawMessage(`{"fqdn":"web1"}`)); err == nil || !strings.Contains(err.Error(), "not fully qualified") {
		t.Fatalf("DecodeLast of a bad spec: %v", err)
	}
}
