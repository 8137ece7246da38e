package policy

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

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
			{ID: "route53.record/y", Kind: "route53.record", Name: "y", Spec: json.RawMessage(`{"ttl": 300, "weight": 1.50, "big": 2147483648, "v": ["a", null]}`)},
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
		})
	}
	if _, err := inputValue(&pipeline.PolicyInput{Live: map[string]any{"x": math.NaN()}}); err == nil {
		t.Error("NaN in the input: no error")
	}
}
