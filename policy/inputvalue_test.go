package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// TestInputValueIsItsJSON: the input document converted field by field is
// the value its JSON encoding gives, printed the same (numbers in digits),
// whichever way its parts were built: decoded JSON, typed values, nil and
// empty lists, omitted fields.
func TestInputValueIsItsJSON(t *testing.T) {
	type typed struct {
		CPUs   int    `json:"cpus"`
		Memory uint64 `json:"memory"`
		Note   string `json:"note,omitempty"`
	}
	var decoded any
	if err := json.Unmarshal([]byte(`{"node":"pve","vmid":101,"memory":"2GiB","bytes":2147483648,"ratio":0.5,
		"tiny":1e-7,"huge":1e300,"negzero":-0,"big":9007199254740993,"on":true,"none":null,
		"networks":[{"bridge":"vmbr0","ip":"dhcp"}],"tags":[],"empty":{}}`), &decoded); err != nil {
		t.Fatal(err)
	}
	full := &pipeline.PolicyInput{
		Version: pipeline.PolicyInputVersion,
		Resources: []pipeline.PolicyResource{
			{ID: "proxmox.lxc/a", Kind: "proxmox.lxc", Name: "a", Spec: decoded, DependsOn: []string{"route53.record/x"}},
			{ID: "route53.record/x", Kind: "route53.record", Name: "x", Spec: map[string]any{"ttl": float64(300)}},
			{ID: "route53.record/y", Kind: "route53.record", Name: "y", Spec: json.RawMessage(`{"ttl": 300, "weight": 1.50, "big": 2147483648, "v": ["a", null],
				"esc": "a\"b\\c\u00e9\ud83d\ude00\n", "utf8": "é—😀", "dup": 1, "dup": {"x": [1, {}]}, "e": -1.5E+3, "z": -0}`)},
			{ID: "route53.record/none", Kind: "route53.record", Name: "none", Spec: json.RawMessage(nil)},
			{ID: "route53.record/é", Kind: "route53.record", Name: "é\"<x>", Spec: nil, DependsOn: []string{"a\tb"}},
			{ID: "acme.certificate/c", Kind: "acme.certificate", Name: "c", Spec: typed{CPUs: 4, Memory: 64 << 30}, DependsOn: []string{}},
		},
		Plan: []pipeline.PolicyChange{
			{ID: "proxmox.lxc/a", Kind: "proxmox.lxc", Name: "a", Action: steps.Update, Before: decoded, After: decoded,
				Fields: []steps.FieldChange{{Path: "memory", Before: "1GiB", After: "2GiB", Sensitive: true}}},
			{ID: "route53.record/x", Kind: "route53.record", Name: "x", Action: steps.Create, After: map[string]any{}},
		},
		Push:    pipeline.Push{User: "alice", Ref: "refs/heads/main", Commit: "abc", Message: "more memory\n\nbody"},
		Live:    map[string]any{"proxmox": map[string]any{"nodes": map[string]any{"pve": typed{CPUs: 16, Memory: 48 << 30}}}},
		Renames: []pipeline.Rename{{From: "proxmox.lxc/old", To: "proxmox.lxc/a"}},
	}
	full.Previous.Resources = full.Resources[:1]
	for name, in := range map[string]*pipeline.PolicyInput{
		"full":  full,
		"empty": {Version: pipeline.PolicyInputVersion},
		"check": pipeline.BuildPolicyInput(nil, nil, nil, nil, pipeline.Push{User: "bob"}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := inputValue(in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ast.InterfaceToValue(in) // OPA's way: through JSON
			if err != nil {
				t.Fatal(err)
			}
			if got.Compare(want) != 0 || got.String() != want.String() {
				t.Errorf("converted field by field:\n%s\nthrough JSON:\n%s", got, want)
			}
			// The policy child's way: the parent's encoding, read in one pass.
			b, err := encodeInput(in)
			if err != nil {
				t.Fatal(err)
			}
			wire, err := parseJSONValue(b)
			if err != nil {
				t.Fatalf("parseJSONValue(encodeInput): %v\n%s", err, b)
			}
			if wire.Compare(want) != 0 || wire.String() != want.String() {
				t.Errorf("encoded and read by the child:\n%s\nthrough JSON:\n%s", wire, want)
			}
		})
	}
	if _, err := inputValue(&pipeline.PolicyInput{Live: map[string]any{"x": math.NaN()}}); err == nil {
		t.Error("NaN in the input: no error")
	}
}

// parseJSONValue reads JSON as OPA's conversion does (util.UnmarshalJSON,
// ast.InterfaceToValue) and refuses what is not JSON.
func TestParseJSONValue(t *testing.T) {
	many := `{"k0":0`
	for i := 1; i < 80; i++ {
		many += fmt.Sprintf(`,"k%d":%d`, i, i)
	}
	many += `,"k7":"last"}`
	for _, doc := range []string{`{}`, `[]`, `null`, `true`, ` false `, `"x"`, `0`, `-0.0e-0`, `123456789012345678901234567890`,
		`{"a":{"b":[1,2,{"c":null}]},"a":2}`, many, "\"\xff\xfe ok\"", `"\u0000\/"`, "[\n1 ,\t2\r]"} {
		got, err := parseJSONValue([]byte(doc))
		if err != nil {
			t.Errorf("%s: %v", doc, err)
			continue
		}
		var x any
		if err := util.UnmarshalJSON([]byte(doc), &x); err != nil {
			t.Fatal(err)
		}
		want, err := ast.InterfaceToValue(x)
		if err != nil {
			t.Fatal(err)
		}
		if got.Compare(want) != 0 || got.String() != want.String() {
			t.Errorf("%s: read %s, OPA reads %s", doc, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":1,}`, `[1,]`, `[1 2]`, `01`, `1.`, `.5`, `1e`, `-`, `tru`, `nul`,
		`"a`, "\"a\x01\"", `"\x"`, `{} {}`, `{a:1}`, strings.Repeat("[", maxJSONDepth+1)} {
		if v, err := parseJSONValue([]byte(bad)); err == nil {
			t.Errorf("%q: read %v, want an error", bad, v)
		}
	}
}
