package steps_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// TestDecodeStrictReportsEveryProblem: one decode names every bad field —
// unknown ones (with the field meant), wrong case, wrong types, nested and
// in lists — and still decodes the good ones (issue 17, item 3).
func TestDecodeStrictReportsEveryProblem(t *testing.T) {
	type disk struct {
		Slot string `json:"slot"`
		Size int    `json:"size"`
	}
	type common struct {
		Node string `json:"node"`
	}
	var v struct {
		common
		Memory int    `json:"memory"`
		Cores  int    `json:"cores"`
		Disks  []disk `json:"disks"`
		Name   string `json:"name"`
	}
	in := `{"node": "pve", "memroy": 8, "Cores": 2, "disks": [{"slot": "scsi0", "size": "8G"}, {"slto": "scsi1"}], "name": "ok"}`
	err := steps.DecodeStrict([]byte(in), &v)
	var got []string
	for _, fe := range steps.FieldErrors(err) {
		got = append(got, fe.Field+": "+fe.Msg)
	}
	want := []string{
		`Cores: unknown field (did you mean "cores"? field names are case-sensitive)`,
		`disks[0].size: got a JSON string, want a whole number`,
		`disks[1].slto: unknown field (did you mean "slot"?)`,
		`memroy: unknown field (did you mean "memory"?)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("DecodeStrict problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v.Name != "ok" || len(v.Disks) != 2 || v.Disks[0].Slot != "scsi0" || v.Node != "pve" {
		t.Errorf("the good fields were not decoded: %+v", v)
	}
}

func TestProblems(t *testing.T) {
	var p steps.Problems
	if p.Err() != nil {
		t.Fatal("empty Problems has an error")
	}
	p.Addf("a", "bad %d", 1)
	p.Add(errors.Join(steps.FieldErrorf("b[0].c", "x"), errors.New("plain")))
	p.Add(nil)
	if p.Len() != 3 || !p.Has("b") || !p.Has("a") || p.Has("c") {
		t.Errorf("Problems = %v (len %d)", p.Err(), p.Len())
	}
	fes := steps.FieldErrors(steps.PrefixFields("alias", p.Err()))
	if len(fes) != 3 || fes[0].Field != "alias.a" || fes[1].Field != "alias.b[0].c" || fes[2].Field != "alias" || fes[2].Msg != "plain" {
		t.Errorf("PrefixFields: %+v", fes)
	}
}

// Problems.Decode records the bad fields and keeps what decoded; only a
// spec that is not an object is an error of its own, with nothing recorded.
func TestProblemsDecode(t *testing.T) {
	type spec struct {
		Name string `json:"name"`
		Size int    `json:"size"`
	}
	for _, tc := range []struct {
		name, raw string
		err       string   // the error Decode returns; "" for none
		fields    []string // the fields recorded
		decoded   string   // Name after Decode
	}{
		{"good", `{"name": "a", "size": 1}`, "", nil, "a"},
		{"bad fields", `{"name": "a", "size": "1", "colour": 1}`, "", []string{"colour", "size"}, "a"},
		{"not an object", `["a"]`, "want an object", nil, ""},
		{"not JSON", `{"name": `, "unexpected EOF", nil, ""},
	} {
		var p steps.Problems
		var v spec
		err := p.Decode([]byte(tc.raw), &v)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
		}
		if got := steptest.ProblemFields(p.Err()); !slices.Equal(got, tc.fields) {
			t.Errorf("%s: recorded %q, want %q", tc.name, got, tc.fields)
		}
		if v.Name != tc.decoded {
			t.Errorf("%s: name = %q, want %q", tc.name, v.Name, tc.decoded)
		}
	}
}
