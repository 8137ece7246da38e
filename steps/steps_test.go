package steps_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// id parses "kind/name".
var id = steptest.ID

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    steps.ID
		wantErr bool
	}{
		{"proxmox.lxc/nextcloud", steps.ID{Kind: "proxmox.lxc", Name: "nextcloud"}, false},
		{"route53.record/www/a", steps.ID{Kind: "route53.record", Name: "www/a"}, false},
		{"nokind", steps.ID{}, true},
		{"/name", steps.ID{}, true},
		{"kind/", steps.ID{}, true},
	} {
		got, err := steps.ParseID(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseID(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestOrder(t *testing.T) {
	a, b, c, d := id("proxmox.lxc/a"), id("route53.record/b"), id("freeipa.host/c"), id("acme.certificate/d")
	ranks := map[string]int{"proxmox.lxc": 10, "freeipa.host": 20, "route53.record": 30, "acme.certificate": 40}
	rank := func(i steps.ID) int { return ranks[i.Kind] }
	got, err := steps.Order([]steps.ID{d, b, c, a}, nil, rank)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint([]steps.ID{a, c, b, d}) {
		t.Errorf("rank order = %v", got)
	}
	// dependsOn overrides ranks: the guest waits for the record.
	got, err = steps.Order([]steps.ID{d, b, c, a}, map[steps.ID][]steps.ID{a: {b}}, rank)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint([]steps.ID{c, b, a, d}) {
		t.Errorf("dependency order = %v", got)
	}
	_, err = steps.Order([]steps.ID{a, b, c}, map[steps.ID][]steps.ID{a: {b}, b: {c}, c: {a}}, rank)
	var ce *steps.CycleError
	if !errors.As(err, &ce) || len(ce.Cycle) != 4 || ce.Cycle[0] != ce.Cycle[3] {
		t.Fatalf("cycle: err = %v", err)
	}
	if !strings.Contains(err.Error(), "→") {
		t.Errorf("cycle message = %q", err)
	}
}

func TestDiffFields(t *testing.T) {
	type net struct {
		Bridge string `json:"bridge"`
		Tag    int    `json:"tag,omitempty"`
	}
	type spec struct {
		Memory int      `json:"memory"`
		Tags   []string `json:"tags"`
		Nets   []net    `json:"nets"`
		Token  string   `json:"token,omitempty"`
	}
	before := spec{Memory: 512, Tags: []string{"a"}, Nets: []net{{Bridge: "vmbr0"}}, Token: "old"}
	after := spec{Memory: 1024, Tags: []string{"a", "b"}, Nets: []net{{Bridge: "vmbr0", Tag: 20}}, Token: "new"}
	got := steps.DiffFields(before, after, "token")
	want := []string{
		"memory: 512 → 1024",
		"nets[0].tag: <nil> → 20",
		"tags[1]: <nil> → b",
		"token: (sensitive) → (sensitive)",
	}
	var lines []string
	for _, f := range got {
		lines = append(lines, fmt.Sprintf("%s: %v → %v", f.Path, f.Before, f.After))
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("DiffFields:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// A create lists every field with an empty before.
	if got := steps.DiffFields(nil, spec{Memory: 1, Tags: []string{"x"}}); len(got) != 2 || got[0].Path != "memory" || got[0].Before != nil {
		t.Errorf("create diff = %+v", got)
	}
	if got := steps.DiffFields(before, before); len(got) != 0 {
		t.Errorf("equal specs differ: %+v", got)
	}
}

// TestDiffFieldsLists: a change inside a list names the element and field
// that changed (issue 17.1: a new IP in net0 plus a second network showed
// the whole list, clipped to the same text on both sides).
func TestDiffFieldsLists(t *testing.T) {
	net0 := map[string]any{"bridge": "vmbr0", "gateway": "10.42.0.1", "ip": "10.42.0.120/24"}
	net0b := map[string]any{"bridge": "vmbr0", "gateway": "10.42.0.1", "ip": "10.42.0.121/24"}
	net1 := map[string]any{"bridge": "vmbr1", "ip": "dhcp"}
	for _, tc := range []struct {
		name          string
		before, after any
		want          []string
	}{
		{"field inside an element, element added",
			map[string]any{"networks": []any{net0}}, map[string]any{"networks": []any{net0b, net1}},
			[]string{"networks[0].ip: 10.42.0.120/24 → 10.42.0.121/24", "networks[1]: <nil> → map[bridge:vmbr1 ip:dhcp]"}},
		{"element removed",
			map[string]any{"networks": []any{net0, net1}}, map[string]any{"networks": []any{net0}},
			[]string{"networks[1]: map[bridge:vmbr1 ip:dhcp] → <nil>"}},
		{"scalars, order-sensitive",
			map[string]any{"tags": []any{"a", "b", "c"}}, map[string]any{"tags": []any{"a", "c"}},
			[]string{"tags[1]: b → c", "tags[2]: c → <nil>"}},
		{"list inside a map inside a list",
			map[string]any{"l": []any{map[string]any{"k": []any{1.0, 2.0}}}}, map[string]any{"l": []any{map[string]any{"k": []any{1.0, 3.0}}}},
			[]string{"l[0].k[1]: 2 → 3"}},
		{"element type changes",
			map[string]any{"l": []any{"x"}}, map[string]any{"l": []any{map[string]any{"a": 1.0}}},
			[]string{"l[0]: x → map[a:1]"}},
		{"list appears as a whole",
			map[string]any{}, map[string]any{"mounts": []any{net1}},
			[]string{"mounts: <nil> → [map[bridge:vmbr1 ip:dhcp]]"}},
		{"index order is numeric",
			map[string]any{"l": []any{}}, map[string]any{"l": []any{0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0}},
			[]string{"l[0]: <nil> → 0", "l[1]: <nil> → 1", "l[2]: <nil> → 2", "l[3]: <nil> → 3", "l[4]: <nil> → 4", "l[5]: <nil> → 5",
				"l[6]: <nil> → 6", "l[7]: <nil> → 7", "l[8]: <nil> → 8", "l[9]: <nil> → 9", "l[10]: <nil> → 10"}},
	} {
		var got []string
		for _, f := range steps.DiffFields(tc.before, tc.after) {
			got = append(got, fmt.Sprintf("%s: %v → %v", f.Path, f.Before, f.After))
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	var v struct {
		A int `json:"a"`
		B struct {
			C string `json:"c"`
		} `json:"b"`
	}
	for _, tc := range []struct{ in, field, msg string }{
		{`{"a": 1, "x": 2}`, "x", "unknown field"},
		{`{"a": "one"}`, "a", "got a JSON string, want a whole number"},
		{`{"b": {"c": 3}}`, "b.c", "got a JSON number, want a string"},
		{`{"a": 1} {}`, "", "unexpected data"},
		{`{"A": 1}`, "A", `did you mean "a"?`},
		{`{"b": {"C": "x"}}`, "b.C", `did you mean "c"?`},
	} {
		err := steps.DecodeStrict([]byte(tc.in), &v)
		var fe *steps.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("DecodeStrict(%s) = %v, want field %q with %q", tc.in, err, tc.field, tc.msg)
		}
	}
}

// plan builds a plan of test.thing creates with the given dependencies.
func plan(t testing.TB, names []string, deps map[string][]string) *steps.Plan {
	t.Helper()
	p := &steps.Plan{Deps: map[steps.ID][]steps.ID{}}
	for _, n := range names {
		i := id("test.thing/" + n)
		p.Changes = append(p.Changes, steps.Change{ID: i, Action: steps.Create, Target: steps.Target{ID: i, Want: steptest.Spec{Value: n}}})
		for _, d := range deps[n] {
			p.Deps[i] = append(p.Deps[i], id("test.thing/"+d))
		}
	}
	return p
}

func registry(t testing.TB, b steps.Backend) *steps.Registry {
	t.Helper()
	r, err := steps.NewRegistry(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestExecuteBoundedAndOrdered(t *testing.T) {
	b := steptest.New()
	b.Delay = 20 * time.Millisecond
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	p := plan(t, names, map[string][]string{"h": {"a", "b"}})
	var mu sync.Mutex
	var events []steps.Event
	outs := steps.Execute(context.Background(), registry(t, b), p, steps.ExecOptions{Concurrency: 3, OnEvent: func(e steps.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	for _, o := range outs {
		if o.Status != steps.StatusOK {
			t.Errorf("%s: %s %v", o.ID, o.Status, o.Err)
		}
	}
	if m := b.MaxConcurrent(); m != 3 {
		t.Errorf("max concurrent applies = %d, want exactly the bound 3", m)
	}
	_, applied := b.Calls()
	pos := map[steps.ID]int{}
	for i, a := range applied {
		pos[a] = i
	}
	if pos[id("test.thing/h")] < pos[id("test.thing/a")] || pos[id("test.thing/h")] < pos[id("test.thing/b")] {
		t.Errorf("h applied before its dependencies: %v", applied)
	}
	kinds := map[steps.EventType]int{}
	for _, e := range events {
		kinds[e.Type]++
	}
	if kinds[steps.EventStarted] != 8 || kinds[steps.EventFinished] != 8 || kinds[steps.EventProgress] != 8 {
		t.Errorf("events = %v", kinds)
	}
}

func TestExecuteRetriesTransientOnly(t *testing.T) {
	b := steptest.New()
	b.Fail(id("test.thing/flaky"), steptest.Fault{Times: 2, Transient: true})
	b.Fail(id("test.thing/down"), steptest.Fault{Times: -1, Transient: true})
	b.Fail(id("test.thing/bad"), steptest.Fault{Times: 1})
	p := plan(t, []string{"flaky", "down", "bad", "after-bad"}, map[string][]string{"after-bad": {"bad"}})
	retries := 0
	outs := steps.Execute(context.Background(), registry(t, b), p, steps.ExecOptions{Attempts: 3, Backoff: time.Millisecond, OnEvent: func(e steps.Event) {
		if e.Type == steps.EventRetry {
			retries++
		}
	}})
	got := map[string]string{}
	for _, o := range outs {
		got[o.ID.Name] = fmt.Sprintf("%s/%d", o.Status, o.Attempts)
	}
	want := map[string]string{"flaky": "ok/3", "down": "failed/3", "bad": "failed/1", "after-bad": "skipped/0"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	if retries != 4 {
		t.Errorf("retries = %d, want 4 (2 flaky + 2 down)", retries)
	}
	if !errors.Is(outs[1].Err, steptest.ErrInjected) || !steps.IsTransient(outs[1].Err) {
		t.Errorf("down's error = %v", outs[1].Err)
	}
}

func TestExecuteSkipsTransitively(t *testing.T) {
	b := steptest.New()
	b.Fail(id("test.thing/a"), steptest.Fault{Times: -1})
	p := plan(t, []string{"a", "b", "c", "x"}, map[string][]string{"b": {"a"}, "c": {"b"}})
	outs := steps.Execute(context.Background(), registry(t, b), p, steps.ExecOptions{})
	if outs[2].Status != steps.StatusSkipped || outs[2].SkippedBecause != id("test.thing/a") {
		t.Errorf("c: %s because %s, want skipped because test.thing/a", outs[2].Status, outs[2].SkippedBecause)
	}
	if outs[3].Status != steps.StatusOK {
		t.Errorf("unrelated x: %s", outs[3].Status)
	}
}

func TestExecuteCancel(t *testing.T) {
	b := steptest.New()
	b.Delay = 50 * time.Millisecond
	names := make([]string, 20)
	for i := range names {
		names[i] = fmt.Sprint("n", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	outs := steps.Execute(ctx, registry(t, b), plan(t, names, nil), steps.ExecOptions{Concurrency: 2})
	counts := map[steps.Status]int{}
	for _, o := range outs {
		counts[o.Status]++
	}
	if counts[steps.StatusCanceled] < 15 || counts[steps.StatusOK] > 0 {
		t.Errorf("after cancel: %v; want the running ones failed and the rest canceled", counts)
	}
	if _, applied := b.Calls(); len(applied) != 0 {
		t.Errorf("applied after cancel: %v", applied)
	}
}

// Sleep waits the time out, or returns the cause of the context's end
// at once.
func TestSleep(t *testing.T) {
	t.Parallel()
	if err := steps.Sleep(t.Context(), time.Millisecond); err != nil {
		t.Errorf("a short sleep: %v", err)
	}
	superseded := errors.New("superseded by a newer push")
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(superseded)
	if err := steps.Sleep(ctx, time.Hour); !errors.Is(err, superseded) {
		t.Errorf("an ended context: %v, want its cause", err)
	}
}

func TestRedactor(t *testing.T) {
	r := &steps.Redactor{}
	r.Add("s3cret-token")
	r.Add("abc") // too short to redact safely
	if got := r.Redact("auth s3cret-token failed for abc"); got != "auth (redacted) failed for abc" {
		t.Errorf("Redact = %q", got)
	}
}

// randomDAG returns n IDs where each may depend on up to 3 earlier ones.
func randomDAG(n int) ([]steps.ID, map[steps.ID][]steps.ID) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]steps.ID, n)
	deps := map[steps.ID][]steps.ID{}
	kinds := []string{"proxmox.lxc", "freeipa.host", "route53.record", "acme.certificate"}
	for i := range ids {
		ids[i] = steps.ID{Kind: kinds[i%4], Name: fmt.Sprint("r", i)}
		for k := 0; k < 3 && i > 0; k++ {
			if rng.IntN(2) == 0 {
				deps[ids[i]] = append(deps[ids[i]], ids[rng.IntN(i)])
			}
		}
	}
	return ids, deps
}

func BenchmarkOrder1000(b *testing.B) {
	ids, deps := randomDAG(1000)
	rank := func(i steps.ID) int { return len(i.Kind) }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := steps.Order(ids, deps, rank); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExecute1000NoOp(b *testing.B) {
	bk := steptest.New()
	p := plan(b, nil, nil)
	ids, deps := randomDAG(1000)
	for _, i := range ids {
		i := steps.ID{Kind: "test.thing", Name: i.Name}
		p.Changes = append(p.Changes, steps.Change{ID: i, Action: steps.NoOp})
	}
	for k, v := range deps {
		for _, d := range v {
			p.Deps[steps.ID{Kind: "test.thing", Name: k.Name}] = append(p.Deps[steps.ID{Kind: "test.thing", Name: k.Name}], steps.ID{Kind: "test.thing", Name: d.Name})
		}
	}
	reg := registry(b, bk)
	b.ReportAllocs()
	for b.Loop() {
		outs := steps.Execute(context.Background(), reg, p, steps.ExecOptions{})
		if outs[999].Status != steps.StatusNoOp {
			b.Fatal(outs[999].Status)
		}
	}
}

// batching is a test backend that, like a DNS backend batching its changes,
// asks for its own pool of parallel applies.
type batching struct{ *steptest.Backend }

func (batching) MaxParallel() int { return 10 }

func TestExecuteParallelApplierPool(t *testing.T) {
	b := batching{steptest.New()}
	b.Delay = 30 * time.Millisecond
	names := make([]string, 25)
	for i := range names {
		names[i] = fmt.Sprint("n", i)
	}
	outs := steps.Execute(context.Background(), registry(t, b), plan(t, names, nil), steps.ExecOptions{Concurrency: 2})
	for _, o := range outs {
		if o.Status != steps.StatusOK {
			t.Fatalf("%s: %s", o.ID, o.Status)
		}
	}
	if m := b.MaxConcurrent(); m != 10 {
		t.Errorf("max concurrent = %d, want the backend's own bound 10 (not the global 2)", m)
	}
}

// TestExecuteSkipsBlockedAndAdopt: a change blocked at plan time is skipped
// without calling its backend, and so are its dependents (even a dependent
// of a dependent); an Adopt calls nothing either; the rest is applied.
func TestExecuteSkipsBlockedAndAdopt(t *testing.T) {
	b := steptest.New()
	p := plan(t, []string{"locked", "dep", "depdep", "free", "adopted"}, map[string][]string{"dep": {"locked"}, "depdep": {"dep"}})
	p.Changes[0].Blocked = "CT 120 is locked (backup): try again after the backup"
	p.Changes[4].Action = steps.Adopt
	outs := steps.Execute(context.Background(), registry(t, b), p, steps.ExecOptions{})
	want := map[string]string{"locked": "skipped  CT 120 is locked (backup): try again after the backup", "dep": "skipped test.thing/locked ",
		"depdep": "skipped test.thing/locked ", "free": "ok  ", "adopted": "noop  "}
	for _, o := range outs {
		got := fmt.Sprintf("%s %s %s", o.Status, o.SkippedBecause, o.Blocked)
		if o.SkippedBecause == (steps.ID{}) {
			got = fmt.Sprintf("%s  %s", o.Status, o.Blocked)
		}
		if got != want[o.ID.Name] {
			t.Errorf("%s: %q, want %q", o.ID.Name, got, want[o.ID.Name])
		}
	}
	if _, applied := b.Calls(); len(applied) != 1 || applied[0] != id("test.thing/free") {
		t.Errorf("applied %v, want only free", applied)
	}
}
