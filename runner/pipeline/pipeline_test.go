package pipeline_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// id parses "kind/name".
var id = steptest.ID

func TestDeployThenNoOpThenPrune(t *testing.T) {
	in := newInfra(t)
	b := steptest.New()
	// Something the runner does not own must never be touched.
	b.Put(id("test.thing/foreign"), steptest.Spec{Value: "theirs"})
	r := in.runner(b)
	ctx := context.Background()

	c1 := in.Push("two things", map[string]string{"main.jsonnet": things(map[string]string{"a": "1", "b": "1"})})
	rep, err := r.Run(ctx, pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != pipeline.ResultOK || rep.Changed != 2 {
		t.Fatalf("first run: %s (%v)", rep.Summary, rep.Errors)
	}
	if want := "deploy " + c1[:7] + ": ok, 2 changed"; rep.Summary != want {
		t.Errorf("summary = %q, want %q", rep.Summary, want)
	}
	if obs, applied := b.Calls(); obs != 1 || len(applied) != 2 {
		t.Errorf("first run: %d observe calls, applied %v; want 1 and 2", obs, applied)
	}

	b.Reset()
	rep, err = r.Run(ctx, pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if _, applied := b.Calls(); rep.Result != pipeline.ResultOK || rep.Changed != 0 || len(applied) != 0 {
		t.Fatalf("second run should be a no-op: %s, applied %v", rep.Summary, applied)
	}

	b.Reset()
	in.Push("drop b, change a", map[string]string{"main.jsonnet": things(map[string]string{"a": "2"})})
	rep, err = r.Run(ctx, pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts["update"] != 1 || rep.Counts["delete"] != 1 {
		t.Errorf("counts = %v, want 1 update and 1 delete", rep.Counts)
	}
	w := b.World()
	if _, ok := w[id("test.thing/b")]; ok {
		t.Error("test.thing/b was not deleted")
	}
	if w[id("test.thing/a")].Value != "2" {
		t.Errorf("test.thing/a = %+v", w[id("test.thing/a")])
	}
	if w[id("test.thing/foreign")].Value != "theirs" {
		t.Error("a resource the runner does not own was touched")
	}
	if got := in.Git(in.Bare, "rev-list", "--count", "status"); got != "3" {
		t.Errorf("status history has %s commits, want 3", got)
	}
	inv := in.Git(in.Bare, "show", "status:inventory.json")
	if strings.Contains(inv, "test.thing/b") || !strings.Contains(inv, "test.thing/a") || strings.Contains(inv, "foreign") {
		t.Errorf("inventory after prune:\n%s", inv)
	}
}

func TestOwnershipCollisionNeedsAdopt(t *testing.T) {
	in := newInfra(t)
	b := steptest.New()
	b.Put(id("test.thing/a"), steptest.Spec{Value: "theirs"})
	r := in.runner(b)
	in.Push("collide", map[string]string{"main.jsonnet": things(map[string]string{"a": "mine"})})
	rep, err := r.Run(context.Background(), pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != pipeline.ResultFailed || rep.Stage != "plan" || !strings.Contains(rep.Errors.Error(), "adopt: true") {
		t.Fatalf("collision: %s %v", rep.Summary, rep.Errors)
	}
	if b.World()[id("test.thing/a")].Value != "theirs" {
		t.Fatal("a colliding resource was changed without adopt")
	}
	in.Push("adopt", map[string]string{"main.jsonnet": things(nil, "r.resource('test.thing', 'a', {value: 'mine'}, {adopt: true})")})
	rep, err = r.Run(context.Background(), pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != pipeline.ResultOK || b.World()[id("test.thing/a")].Value != "mine" {
		t.Fatalf("adopt: %s %v", rep.Summary, rep.Errors)
	}
	if inv := in.Git(in.Bare, "show", "status:inventory.json"); !strings.Contains(inv, `"adopted": true`) {
		t.Errorf("inventory does not record the adoption:\n%s", inv)
	}
}

// TestAdoptionIsItsOwnAction (issue 17.2): adopting a resource that already
// matches its spec is an "adopt", counted and shown as such, not a no-op
// that hides it; nothing is written to the backend for it. An adoption that
// changes fields is an update that says it adopts.
func TestAdoptionIsItsOwnAction(t *testing.T) {
	in := newInfra(t)
	b := steptest.New()
	b.Put(id("test.thing/same"), steptest.Spec{Value: "v"})
	b.Put(id("test.thing/differs"), steptest.Spec{Value: "theirs"})
	r := in.runner(b)
	in.Push("adopt", map[string]string{"main.jsonnet": things(nil,
		"r.resource('test.thing', 'same', {value: 'v'}, {adopt: true})",
		"r.resource('test.thing', 'differs', {value: 'mine'}, {adopt: true})")})
	// A plan counts the adoption apart: it changes nothing.
	plan, err := r.Run(context.Background(), pipeline.Request{Kind: pipeline.KindPlan, PlanOnly: true})
	if err != nil || !strings.HasSuffix(plan.Summary, ": 1 to change, 1 to adopt") {
		t.Errorf("plan summary = %q (%v), want 1 to change, 1 to adopt", plan.Summary, err)
	}
	rep, err := r.Run(context.Background(), pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != pipeline.ResultOK || rep.Counts["adopt"] != 1 || rep.Counts["update"] != 1 || rep.Counts["noop"] != 0 {
		t.Fatalf("%s: counts %v", rep.Summary, rep.Counts)
	}
	if !strings.HasSuffix(rep.Summary, "ok, 1 changed, 1 adopted") {
		t.Errorf("summary = %q", rep.Summary)
	}
	if _, applied := b.Calls(); len(applied) != 1 || applied[0] != id("test.thing/differs") {
		t.Errorf("applied %v, want only the update", applied)
	}
	text := rep.Text()
	for _, want := range []string{"2 resources: 1 update, 1 adopt", "= adopt   test.thing/same", "note: adopt: the runner takes over"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if md := in.Git(in.Bare, "show", "status:STATUS.md"); !strings.Contains(md, "| adopt | `test.thing/same` |") {
		t.Errorf("STATUS.md does not show the adoption:\n%s", md)
	}
	if js := in.Git(in.Bare, "show", "status:status.json"); !strings.Contains(js, `"adopt": 1`) {
		t.Errorf("status.json does not count the adoption:\n%s", js)
	}
	if inv := in.Git(in.Bare, "show", "status:inventory.json"); strings.Count(inv, `"adopted": true`) != 2 {
		t.Errorf("inventory does not record both adoptions:\n%s", inv)
	}
	// Owned now: the next run is a no-op.
	rep, err = r.Run(context.Background(), pipeline.Request{})
	if err != nil || rep.Counts["noop"] != 2 {
		t.Errorf("second run: %s %v", rep.Summary, rep.Counts)
	}
}

func TestPartialFailureSkipsOnlyDependents(t *testing.T) {
	in := newInfra(t)
	b := steptest.New()
	b.Fail(id("test.thing/db"), steptest.Fault{Times: -1})
	b.Fail(id("test.thing/flaky"), steptest.Fault{Times: 2, Transient: true})
	r := in.runner(b)
	c := in.Push("stack", map[string]string{"main.jsonnet": things(map[string]string{"db": "1", "other": "1", "flaky": "1"},
		"r.resource('test.thing', 'app', {value: '1'}, {dependsOn: ['test.thing/db']})",
		"r.resource('test.other', 'web', {value: '1'}, {dependsOn: ['test.thing/app']})")})
	rep, err := r.Run(context.Background(), pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]steps.Status{}
	attempts := map[string]int{}
	for _, s := range rep.Applied {
		status[s.ID], attempts[s.ID] = s.Status, s.Attempts
	}
	want := map[string]steps.Status{"test.thing/db": "failed", "test.thing/app": "skipped", "test.other/web": "skipped",
		"test.thing/other": "ok", "test.thing/flaky": "ok"}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("%s: %s, want %s", k, status[k], v)
		}
	}
	if attempts["test.thing/flaky"] != 3 || attempts["test.thing/db"] != 1 {
		t.Errorf("attempts = %v; want flaky 3 (two transient failures), db 1 (permanent)", attempts)
	}
	if rep.Result != pipeline.ResultFailed || !strings.HasPrefix(rep.Summary, "deploy "+c[:7]+": failed, 2 changed, 1 failed, 2 skipped") {
		t.Errorf("summary = %q", rep.Summary)
	}
	md := in.Git(in.Bare, "show", "status:STATUS.md")
	for _, s := range []string{"injected fault", "test.thing/db failed; fix that one first", "| `test.thing/flaky` | create | ok | 3 |"} {
		if !strings.Contains(md, s) {
			t.Errorf("STATUS.md lacks %q:\n%s", s, md)
		}
	}
	// The failed create is owned now: the next run converges it.
	b.Fail(id("test.thing/db"), steptest.Fault{})
	rep, err = r.Run(context.Background(), pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != pipeline.ResultOK || rep.Changed != 3 {
		t.Errorf("second run: %s %v", rep.Summary, rep.Errors)
	}
}

func TestSensitiveFieldsAreRedacted(t *testing.T) {
	in := newInfra(t)
	b := steptest.New()
	r := in.runner(b)
	in.Push("token", map[string]string{"main.jsonnet": things(nil, "r.resource('test.thing', 'a', {value: '1', token: 'hunter2-secret'})")})
	rep, err := r.Run(context.Background(), pipeline.Request{})
	if err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("%v %s", err, rep.Summary)
	}
	for _, f := range []string{"STATUS.md", "status.json"} {
		if s := in.Git(in.Bare, "show", "status:"+f); strings.Contains(s, "hunter2") || !strings.Contains(s, steps.Redacted) {
			t.Errorf("%s leaks the sensitive value or lacks the redaction marker:\n%s", f, s)
		}
	}
}

func TestReplayRestoresOlderCommit(t *testing.T) {
	in := newInfra(t)
	b := steptest.New()
	r := in.runner(b)
	ctx := context.Background()
	c1 := in.Push("v1", map[string]string{"main.jsonnet": things(map[string]string{"a": "1", "b": "1"})})
	if rep, err := r.Run(ctx, pipeline.Request{}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("%v %v", err, rep.Errors)
	}
	in.Push("v2", map[string]string{"main.jsonnet": things(map[string]string{"a": "2"})})
	if rep, err := r.Run(ctx, pipeline.Request{}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("%v %v", err, rep.Errors)
	}
	rep, err := r.Run(ctx, pipeline.Request{Rev: c1, Kind: pipeline.KindReplay})
	if err != nil {
		t.Fatal(err)
	}
	if want := "replay of " + c1[:7] + ": ok, 2 changed"; rep.Summary != want {
		t.Errorf("summary = %q, want %q", rep.Summary, want)
	}
	w := b.World()
	if w[id("test.thing/a")].Value != "1" || w[id("test.thing/b")].Value != "1" {
		t.Errorf("world after replay = %v", w)
	}
	note := in.Git(in.Bare, "notes", "--ref=runner", "show", c1)
	if !strings.Contains(note, "deploy "+c1[:7]+": ok") || !strings.Contains(note, "replay of "+c1[:7]+": ok") {
		t.Errorf("note on the replayed commit = %q", note)
	}
}

func TestPlanAppliesAndRecordsNothing(t *testing.T) {
	in := newInfra(t)
	b := steptest.New()
	r := in.runner(b)
	in.Push("v1", map[string]string{"main.jsonnet": things(map[string]string{"a": "1"})})
	rep, err := r.Run(context.Background(), pipeline.Request{Kind: pipeline.KindPlan})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != pipeline.ResultPlanned || rep.Counts["create"] != 1 {
		t.Fatalf("plan: %s %v", rep.Summary, rep.Counts)
	}
	if _, applied := b.Calls(); len(applied) != 0 || len(b.World()) != 0 {
		t.Error("plan applied something")
	}
	if out := in.Git(in.Bare, "for-each-ref", "refs/heads/status", "refs/notes/runner"); out != "" {
		t.Errorf("plan recorded refs: %s", out)
	}
}

// TestJournalRecoversInterruptedCreates: a runner killed after creating a
// resource but before recording its inventory leaves the write-ahead
// journal; the next run owns what it names instead of refusing it.
func TestJournalRecoversInterruptedCreates(t *testing.T) {
	in := newInfra(t)
	b := steptest.New()
	r := in.runner(b)
	c := in.Push("v1", map[string]string{"main.jsonnet": things(map[string]string{"a": "1"})})
	// What the killed run left: the resource, and its journal.
	b.Put(id("test.thing/a"), steptest.Spec{Value: "1"})
	journal := `{"commit":"` + c + `","records":[{"id":"test.thing/a","spec":{"value":"1"}}]}`
	if err := os.WriteFile(filepath.Join(in.Bare, pipeline.JournalFile), []byte(journal), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(context.Background(), pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != pipeline.ResultOK {
		t.Fatalf("%s: %v", rep.Summary, rep.Errors)
	}
	if _, err := os.Stat(filepath.Join(in.Bare, pipeline.JournalFile)); !os.IsNotExist(err) {
		t.Errorf("journal left after a recorded apply (err=%v)", err)
	}
	if inv := in.Git(in.Bare, "show", "status:inventory.json"); !strings.Contains(inv, "test.thing/a") {
		t.Errorf("inventory lacks the recovered resource:\n%s", inv)
	}
}

// warner is a backend with a standing warning, like TLS checks switched off.
type warner struct{ *steptest.Backend }

func (warner) Warnings() []string { return []string{"TLS verification is off (insecureSkipVerify)"} }

func TestBackendWarningsAreReported(t *testing.T) {
	in := newInfra(t)
	r := in.runner(warner{steptest.New()})
	in.Push("v1", map[string]string{"main.jsonnet": things(map[string]string{"a": "1"})})
	rep, err := r.Run(context.Background(), pipeline.Request{})
	if err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("%v %s", err, rep.Summary)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(in.Git(in.Bare, "show", "status:STATUS.md"), "## Warnings\n\n- test: TLS verification is off") {
		t.Errorf("warnings = %v; STATUS.md:\n%s", rep.Warnings, in.Git(in.Bare, "show", "status:STATUS.md"))
	}
}

// summarizer is a backend that offers live facts to policies, as the
// Proxmox backend offers node capacities.
type summarizer struct{ *steptest.Backend }

func (summarizer) LiveSummary() any {
	return map[string]any{"nodes": map[string]any{"n1": map[string]any{"memory": 1000}}}
}

// sizePolicy denies "big" when the live facts say the node is small, so a
// test can see which live facts a check had.
type sizePolicy struct{}

func (sizePolicy) Check(_ context.Context, _ []pipeline.PolicyFile, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	var res pipeline.PolicyResult
	if b, _ := json.Marshal(in.Live); strings.Contains(string(b), `"memory":1000`) {
		for _, r := range in.Resources {
			if r.Name == "big" {
				res.Deny = append(res.Deny, pipeline.Finding{Message: "big does not fit on n1"})
			}
		}
	}
	return res, nil
}

// TestCheckUsesLastLiveFacts: the push-time check has no backend to ask,
// so it judges with the live facts the last run recorded in status.json.
func TestCheckUsesLastLiveFacts(t *testing.T) {
	in := newInfra(t)
	r := in.runner(summarizer{steptest.New()})
	r.Policy = sizePolicy{}
	c := in.Push("big", map[string]string{"main.jsonnet": things(nil, "r.resource('test.thing', 'big', {value: '1'})")})
	res, err := r.Check(context.Background(), c, pipeline.Push{User: "alice"})
	if err != nil || res.Rejected() {
		t.Fatalf("before any run there are no live facts: %v %+v", err, res)
	}
	in.Push("small", map[string]string{"main.jsonnet": things(map[string]string{"small": "1"})})
	if rep, err := r.Run(context.Background(), pipeline.Request{}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("%v %v", err, rep.Errors)
	}
	if st := in.Git(in.Bare, "show", "status:status.json"); !strings.Contains(st, `"live"`) {
		t.Fatalf("status.json records no live facts:\n%s", st)
	}
	res, err = r.Check(context.Background(), c, pipeline.Push{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Rejected() || res.Policy.Deny[0].Message != "big does not fit on n1" {
		t.Errorf("check after a run: %+v; want the push denied with the recorded node size", res)
	}
}

// TestPushIsEvaluatedOnce: the worker reuses the evaluation of the push's
// check; a damaged entry, another pusher (an ext var) or another commit
// evaluates again.
func TestPushIsEvaluatedOnce(t *testing.T) {
	in := newInfra(t)
	r := in.runner(steptest.New())
	r.EvalCache = t.TempDir()
	c := in.Push("a", map[string]string{"main.jsonnet": things(map[string]string{"a": "1"})})
	ctx := context.Background()
	if res, err := r.Check(ctx, c, pipeline.Push{User: "alice"}); err != nil || res.Rejected() {
		t.Fatalf("check: %v %+v", err, res)
	}
	l, err := r.Load(ctx, c, pipeline.Vars{Pusher: "alice"})
	if err != nil || !l.Cached || len(l.Resources) != 1 {
		t.Fatalf("the worker's load after the check: cached=%v, %v", l != nil && l.Cached, err)
	}
	if l, err := r.Load(ctx, c, pipeline.Vars{Pusher: "bob"}); err != nil || l.Cached {
		t.Errorf("another pusher (std.extVar('pusher')) must evaluate again: %v", err)
	}
	// A damaged entry is not used.
	entries, _ := filepath.Glob(filepath.Join(r.EvalCache, "*.eval"))
	if len(entries) != 2 {
		t.Fatalf("%d cache entries, want 2", len(entries))
	}
	for _, e := range entries {
		b, _ := os.ReadFile(e)
		if !strings.Contains(string(b), `"1"`) {
			t.Fatalf("%s does not hold the output: %q", e, b)
		}
		if err := os.WriteFile(e, []byte(strings.Replace(string(b), `"1"`, `"9"`, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err = r.Load(ctx, c, pipeline.Vars{Pusher: "alice"})
	if err != nil || l.Cached || l.Resources[0].Spec.(steptest.Spec).Value != "1" {
		t.Errorf("a damaged entry was used: cached=%v, %v", l != nil && l.Cached, err)
	}
}
