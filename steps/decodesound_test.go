package steps_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
)

// TestDecodeStrictIntoZeroValue: decoding into a new value (as every
// backend decodes a spec) refuses a key that matches its field only when
// case is ignored — at the top, nested, in lists, maps and embedded structs
// — and still decodes a sound spec whole.
func TestDecodeStrictIntoZeroValue(t *testing.T) {
	type disk struct {
		Slot string `json:"slot"`
		Size int    `json:"size"`
	}
	type Common struct {
		Node string `json:"node"`
	}
	type spec struct {
		Common
		Memory int              `json:"memory"`
		Disks  []disk           `json:"disks"`
		ByName map[string]disk  `json:"byName"`
		Extra  map[string]any   `json:"extra"`
		Opt    *disk            `json:"opt"`
		Raw    json.RawMessage  `json:"raw"`
		Any    any              `json:"any"`
		Tags   []string         `json:"tags"`
		Nested map[string][]int `json:"nested"`
	}
	for _, tc := range []struct{ in, field string }{
		{`{"Memory": 1}`, "Memory"},
		{`{"NODE": "pve"}`, "NODE"},
		{`{"disks": [{"slot": "a"}, {"Slot": "b"}]}`, "disks[1].Slot"},
		{`{"byName": {"x": {"sIze": 1}}}`, "byName.x.sIze"},
		{`{"opt": {"Slot": "a"}}`, "opt.Slot"},
	} {
		var v spec
		err := steps.DecodeStrict([]byte(tc.in), &v)
		var fe *steps.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, "case-sensitive") {
			t.Errorf("DecodeStrict(%s) = %v, want field %q named case-sensitive", tc.in, err, tc.field)
		}
	}
	var v spec
	in := `{"node": "pve", "memory": 2048, "disks": [{"slot": "scsi0", "size": 8}], "byName": {"d": {"slot": "x"}},
		"extra": {"Any": {"Case": [1]}}, "opt": null, "raw": {"Keep": 1}, "any": {"X": true}, "tags": ["a"], "nested": {"k": [1, 2]}}`
	if err := steps.DecodeStrict([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	want := spec{Common: Common{Node: "pve"}, Memory: 2048, Disks: []disk{{"scsi0", 8}}, ByName: map[string]disk{"d": {Slot: "x"}},
		Extra: map[string]any{"Any": map[string]any{"Case": []any{1.0}}}, Raw: json.RawMessage(`{"Keep": 1}`),
		Any: map[string]any{"X": true}, Tags: []string{"a"}, Nested: map[string][]int{"k": {1, 2}}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("decoded %+v\nwant %+v", v, want)
	}
	// A spec with a problem leaves the fast path: every problem is named.
	var bad spec
	err := steps.DecodeStrict([]byte(`{"memory": "x", "Node": "pve"}`), &bad)
	if got := len(steps.FieldErrors(err)); got != 2 {
		t.Errorf("problems = %v, want 2", err)
	}
}
