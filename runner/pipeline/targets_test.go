package pipeline_test

import (
	"encoding/json"
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
