package pipeline_test

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// countingDecoder counts the decodes of the test backend.
type countingDecoder struct {
	*steptest.Backend
	n atomic.Int32
}

func (c *countingDecoder) Decode(kind string, raw json.RawMessage) (steps.Spec, error) {
	c.n.Add(1)
	return c.Backend.Decode(kind, raw)
}

// A record of exactly the desired spec is not decoded again: the desired
// spec is the last applied one. Any other record is.
func TestTargetsReuseTheDesiredSpec(t *testing.T) {
	t.Parallel()
	bk := &countingDecoder{Backend: steptest.New()}
	reg, err := steps.NewRegistry(bk)
	if err != nil {
		t.Fatal(err)
	}
	id := func(n string) steps.ID { return steps.ID{Kind: "test.thing", Name: n} }
	desired := []steps.Resource{
		{ID: id("same"), Spec: steptest.Spec{Value: "v"}},
		{ID: id("changed"), Spec: steptest.Spec{Value: "new"}},
		{ID: id("new"), Spec: steptest.Spec{Value: "n"}},
	}
	// The inventory as ReadInventory gives it: indented JSON read back.
	stored, err := json.MarshalIndent(&pipeline.Inventory{Schema: pipeline.InventorySchema, Resources: []steps.Record{
		{ID: id("same"), Spec: json.RawMessage(`{"value":"v"}`)},
		{ID: id("changed"), Spec: json.RawMessage(`{"value":"old"}`)},
		{ID: id("gone"), Spec: json.RawMessage(`{"value":"g"}`)},
	}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var inv pipeline.Inventory
	if err := json.Unmarshal(stored, &inv); err != nil {
		t.Fatal(err)
	}
	ts, ds := pipeline.Targets(reg, desired, &inv)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	want := map[string][2]any{
		"same":    {steptest.Spec{Value: "v"}, steptest.Spec{Value: "v"}},
		"changed": {steptest.Spec{Value: "new"}, steptest.Spec{Value: "old"}},
		"new":     {steptest.Spec{Value: "n"}, nil},
		"gone":    {nil, steptest.Spec{Value: "g"}},
	}
	if len(ts) != len(want) {
		t.Fatalf("%d targets, want %d", len(ts), len(want))
	}
	for _, tg := range ts {
		w := want[tg.ID.Name]
		if tg.Want != w[0] || tg.Last != w[1] {
			t.Errorf("%s: want %v last %v, want %v and %v", tg.ID, tg.Want, tg.Last, w[0], w[1])
		}
	}
	if n := bk.n.Load(); n != 2 {
		t.Errorf("%d decodes of inventory specs, want 2 (changed, gone)", n)
	}
}

// strictConfig is the test backend whose Decode refuses every spec, as a
// backend refuses a spec that names what its config no longer has.
type strictConfig struct{ *steptest.Backend }

func (strictConfig) Decode(string, json.RawMessage) (steps.Spec, error) {
	return nil, steps.FieldErrorf("site", `"local" is not configured`)
}

// lastDecoding is strictConfig with a DecodeLast that reads the shape only.
type lastDecoding struct{ strictConfig }

func (l lastDecoding) DecodeLast(kind string, raw json.RawMessage) (steps.Spec, error) {
	return l.Backend.Decode(kind, raw)
}

// Inventory specs are decoded as applied when the backend can
// (steps.LastDecoder): a config change does not make them undecodable.
// Without DecodeLast, the failure's hint names the config as a cause.
func TestTargetsDecodeLastSpecsAsApplied(t *testing.T) {
	t.Parallel()
	id := steps.ID{Kind: "test.thing", Name: "gone"}
	inv := &pipeline.Inventory{Schema: pipeline.InventorySchema, Resources: []steps.Record{{ID: id, Spec: json.RawMessage(`{"value":"g"}`)}}}
	for _, c := range []struct {
		name string
		b    steps.Backend
		hint string
	}{
		{"DecodeLast", lastDecoding{strictConfig{steptest.New()}}, ""},
		{"Decode only", strictConfig{steptest.New()}, "another runner version or another backends.test config"},
	} {
		reg, err := steps.NewRegistry(c.b)
		if err != nil {
			t.Fatal(err)
		}
		ts, ds := pipeline.Targets(reg, nil, inv)
		if c.hint == "" {
			if len(ds) != 0 || len(ts) != 1 || ts[0].Last != (steptest.Spec{Value: "g"}) {
				t.Errorf("%s: targets %+v, diagnostics %v: want gone with its last spec", c.name, ts, ds)
			}
			continue
		}
		if len(ds) != 1 || !strings.Contains(ds[0].Hint, c.hint) || !strings.Contains(ds[0].Hint, "remove test.thing/gone from inventory.json") {
			t.Errorf("%s: diagnostics %+v, want one with hint %q", c.name, ds, c.hint)
		}
	}
}
