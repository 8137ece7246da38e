package pipeline_test

import (
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// keyed is the test backend with an identity: a resource's live object is
// named by its spec's Immutable field (like a Proxmox VMID).
type keyed struct{ *steptest.Backend }

func (keyed) Identities(t steps.Target) []string {
	s, ok := t.Want.(steptest.Spec)
	if !ok {
		s, ok = t.Last.(steptest.Spec)
	}
	if !ok || s.Immutable == "" {
		return nil
	}
	return []string{"key:" + s.Immutable}
}

func TestIdentities(t *testing.T) {
	reg, err := steps.NewRegistry(keyed{steptest.New()})
	if err != nil {
		t.Fatal(err)
	}
	want := func(name, key string) steps.Target {
		return steps.Target{ID: id(name), Want: steptest.Spec{Value: "v", Immutable: key}}
	}
	owned := func(tg steps.Target) steps.Target {
		tg.Last = tg.Want
		tg.State = []byte(`{"n":1}`)
		return tg
	}
	leaving := func(name, key string) steps.Target {
		return steps.Target{ID: id(name), Last: steptest.Spec{Value: "v", Immutable: key}, State: []byte(`{"n":1}`)}
	}
	cases := []struct {
		name    string
		targets []steps.Target
		renamed map[string]string // new → old
		errs    []string
	}{
		{"distinct identities", []steps.Target{want("test.thing/a", "1"), want("test.thing/b", "2"), leaving("test.thing/c", "3")}, nil, nil},
		{"no identity known yet", []steps.Target{want("test.thing/a", ""), want("test.thing/b", "")}, nil, nil},
		{"a rename moves the inventory entry", []steps.Target{want("test.thing/tb2", "103"), leaving("test.thing/twitterbot", "103")},
			map[string]string{"test.thing/tb2": "test.thing/twitterbot"}, nil},
		{"two desired resources on one object", []steps.Target{want("test.thing/a", "103"), want("test.thing/b", "103")},
			nil, []string{"test.thing/a (desired), test.thing/b (desired)", "key:103"}},
		{"an owned resource that stays is not renamed", []steps.Target{owned(want("test.thing/a", "103")), want("test.thing/b", "103")},
			nil, []string{"test.thing/a (desired, owned), test.thing/b (desired)"}},
		{"an owned desired resource does not take over another", []steps.Target{owned(want("test.thing/a", "103")), leaving("test.thing/b", "103")},
			nil, []string{"test.thing/a (desired, owned), test.thing/b (owned, left the repo)"}},
		{"a rename across kinds is refused", []steps.Target{want("test.other/a", "103"), leaving("test.thing/b", "103")},
			nil, []string{"test.other/a (desired), test.thing/b (owned, left the repo)"}},
		{"two leave, one arrives: ambiguous", []steps.Target{want("test.thing/a", "103"), leaving("test.thing/b", "103"), leaving("test.thing/c", "103")},
			nil, []string{"test.thing/b (owned, left the repo), test.thing/c (owned, left the repo)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ds := pipeline.Identities(reg, tc.targets)
			if len(tc.errs) > 0 {
				if len(ds) != 1 {
					t.Fatalf("diagnostics = %v, want one", ds)
				}
				for _, w := range tc.errs {
					if !strings.Contains(ds.Error(), w) {
						t.Errorf("diagnostic %q lacks %q", ds.Error(), w)
					}
				}
				return
			}
			if len(ds) > 0 {
				t.Fatalf("unexpected diagnostics: %v", ds)
			}
			if len(got) != len(tc.targets)-len(tc.renamed) {
				t.Fatalf("%d targets, want %d", len(got), len(tc.targets)-len(tc.renamed))
			}
			for _, tg := range got {
				from, renamed := tc.renamed[tg.ID.String()]
				if renamed != (tg.RenamedFrom != steps.ID{}) || (renamed && tg.RenamedFrom.String() != from) {
					t.Errorf("%s renamed from %q, want %q", tg.ID, tg.RenamedFrom, from)
				}
				if renamed && (!tg.Owned() || string(tg.State) != `{"n":1}`) {
					t.Errorf("%s did not take over the old entry's spec and state: %+v", tg.ID, tg)
				}
				if tc.renamed != nil && tg.Want == nil {
					t.Errorf("the renamed resource %s is still a delete candidate", tg.ID)
				}
			}
		})
	}
}

func TestKindChangeOnOneObjectSaysHow(t *testing.T) {
	reg, err := steps.NewRegistry(keyed{steptest.New()})
	if err != nil {
		t.Fatal(err)
	}
	ts := []steps.Target{
		{ID: id("test.other/a"), Want: steptest.Spec{Immutable: "107"}},
		{ID: id("test.thing/a"), Last: steptest.Spec{Immutable: "107"}},
	}
	_, ds := pipeline.Identities(reg, ts)
	if len(ds) != 1 || !strings.Contains(ds[0].Hint, "push the removal of test.thing/a first (it is deleted), then add test.other/a") {
		t.Errorf("diagnostics = %v", ds)
	}
}
