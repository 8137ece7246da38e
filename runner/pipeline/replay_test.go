package pipeline_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// TestReplayIsRecordedAndWarnedAbout: a replay records who ran it and which
// deployed commit it replaced (Replayed-By trailer, status.json replay);
// while the deployed commit is a replay, every plan and check of a branch
// that still has the rolled-back changes says so, the deploy that
// re-applies them too; a revert on the branch or a deploy ends the warning
// (issue 17, item 6).
func TestReplayIsRecordedAndWarnedAbout(t *testing.T) {
	in := newInfra(t)
	b := steptest.New()
	r := in.runner(b)
	ctx := context.Background()
	v1 := things(map[string]string{"a": "1"})
	c1 := in.Push("v1", map[string]string{"main.jsonnet": v1})
	if rep, err := r.Run(ctx, pipeline.Request{}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("%v %v", err, rep.Errors)
	}
	c2 := in.Push("v2", map[string]string{"main.jsonnet": things(map[string]string{"a": "2"})})
	if rep, err := r.Run(ctx, pipeline.Request{}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("%v %v", err, rep.Errors)
	}
	rep, err := r.Run(ctx, pipeline.Request{Rev: c1, Kind: pipeline.KindReplay, ReplayedBy: "alice\nSigned-off-by: mallory"})
	if err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("replay: %v %v", err, rep.Errors)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("the replay itself warns: %v", rep.Warnings)
	}

	msg := in.Git(in.Bare, "log", "-1", "--format=%B", "status")
	if !strings.Contains(msg, "\nReplayed-By: alice Signed-off-by: mallory\n") || strings.Contains(msg, "\nSigned-off-by") {
		t.Errorf("status commit message lacks the Replayed-By trailer on one line:\n%s", msg)
	}
	var st struct {
		Replay *pipeline.Replay `json:"replay"`
	}
	if err := json.Unmarshal([]byte(in.Git(in.Bare, "show", "status:status.json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Replay == nil || st.Replay.By != "alice Signed-off-by: mallory" || st.Replay.Replaced != c2 {
		t.Errorf("status.json replay = %+v, want by alice, replaced %s", st.Replay, c2)
	}
	if md := in.Git(in.Bare, "show", "status:STATUS.md"); !strings.Contains(md, "| Replayed by | alice Signed-off-by: mallory, replacing `"+c2[:7]+"` |") {
		t.Errorf("STATUS.md does not say who replayed:\n%s", md)
	}

	want := "main still contains the changes rolled back by replay of " + c1[:7]
	// A plan of the branch (still at c2) says so.
	rep, err = r.Run(ctx, pipeline.Request{Kind: pipeline.KindPlan})
	if err != nil || !strings.Contains(strings.Join(rep.Warnings, "\n"), want) || !strings.Contains(rep.Text(), "warning: "+want) {
		t.Fatalf("plan of main after the replay: %v, warnings %q", err, rep.Warnings)
	}
	if !strings.Contains(rep.Warnings[0], "git revert --no-commit "+c1[:7]+".."+c2[:7]) {
		t.Errorf("the warning does not say what to revert: %s", rep.Warnings[0])
	}
	// So does the push-time check of a new commit.
	c3 := in.Push("v3", map[string]string{"main.jsonnet": things(map[string]string{"a": "3"})})
	res, err := r.Check(ctx, c3, pipeline.Push{User: "bob"})
	if err != nil || res.Rejected() || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].String(), want) {
		t.Fatalf("check of %s: %v, rejected %v, warnings %v", c3[:7], err, res != nil && res.Rejected(), res.Warnings)
	}
	// A commit that reverts to what the replay deployed: no warning.
	c4 := in.Push("revert", map[string]string{"main.jsonnet": v1})
	if res, err := r.Check(ctx, c4, pipeline.Push{User: "bob"}); err != nil || len(res.Warnings) != 0 {
		t.Errorf("check of the revert %s: %v, warnings %v", c4[:7], err, res.Warnings)
	}
	// The deploy that re-applies the changes says so too; after it, the
	// deployed commit is no replay and nothing warns.
	in.Push("v5", map[string]string{"main.jsonnet": things(map[string]string{"a": "5"})})
	rep, err = r.Run(ctx, pipeline.Request{})
	if err != nil || rep.Result != pipeline.ResultOK || !strings.Contains(strings.Join(rep.Warnings, "\n"), want) {
		t.Fatalf("deploy after the replay: %v %v, warnings %q", err, rep.Errors, rep.Warnings)
	}
	if md := in.Git(in.Bare, "show", "status:STATUS.md"); !strings.Contains(md, want) {
		t.Errorf("STATUS.md of the deploy lacks the warning:\n%s", md)
	}
	in.Push("v6", map[string]string{"main.jsonnet": things(map[string]string{"a": "6"})})
	if rep, err = r.Run(ctx, pipeline.Request{Kind: pipeline.KindPlan}); err != nil || len(rep.Warnings) != 0 {
		t.Errorf("plan after a deploy still warns: %v %q", err, rep.Warnings)
	}
}

// A replay after a replay: the replay itself does not warn, and the hint's
// revert range runs from the replayed commit to the branch, not to the
// commit it replaced (an older replay, which gave an empty range).
func TestReplayOfAReplay(t *testing.T) {
	in := newInfra(t)
	r := in.runner(steptest.New())
	ctx := context.Background()
	var cs []string
	for _, v := range []string{"1", "2", "3"} {
		cs = append(cs, in.Push("v"+v, map[string]string{"main.jsonnet": things(map[string]string{"a": v})}))
		if rep, err := r.Run(ctx, pipeline.Request{}); err != nil || rep.Result != pipeline.ResultOK {
			t.Fatalf("deploy v%s: %v %v", v, err, rep.Errors)
		}
	}
	for _, c := range []string{cs[0], cs[1]} {
		rep, err := r.Run(ctx, pipeline.Request{Rev: c, Kind: pipeline.KindReplay, ReplayedBy: "alice"})
		if err != nil || rep.Result != pipeline.ResultOK || len(rep.Warnings) != 0 {
			t.Fatalf("replay of %s: %v %v, warnings %q", c[:7], err, rep.Errors, rep.Warnings)
		}
	}
	rep, err := r.Run(ctx, pipeline.Request{Kind: pipeline.KindPlan})
	if err != nil || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "git revert --no-commit "+cs[1][:7]+".."+cs[2][:7]) {
		t.Fatalf("plan of main after two replays: %v, warnings %q", err, rep.Warnings)
	}
}

// TestReplayReleasesWhatItDidNotCreate: a replay to a commit from before an
// adoption leaves the adopted object as it is and stops managing it (a
// "release"); it deletes only what the runner created since. The replay's
// dry run (Request.ReplayPlan) shows the same plan and changes nothing.
// Before the fix the replay deleted the adopted object: rolling back an
// import removed the live homelab it had taken over.
func TestReplayReleasesWhatItDidNotCreate(t *testing.T) {
	in, b, r, c1 := deployedAdoption(t, map[string]string{"a": "1", "new": "n"})
	ctx := context.Background()

	b.Reset()
	dry, err := r.Run(ctx, pipeline.Request{Rev: c1, Kind: pipeline.KindPlan, ReplayPlan: true})
	if err != nil || dry.Result != pipeline.ResultPlanned {
		t.Fatalf("replay dry run: %v %v", err, dry.Errors)
	}
	for _, want := range []string{"- delete  test.thing/new", ". release test.thing/handmade", "note: adopted"} {
		if !strings.Contains(dry.Text(), want) {
			t.Errorf("the replay's dry run lacks %q:\n%s", want, dry.Text())
		}
	}
	if _, applied := b.Calls(); len(applied) != 0 {
		t.Fatalf("the dry run applied %v", applied)
	}

	rep, err := r.Run(ctx, pipeline.Request{Rev: c1, Kind: pipeline.KindReplay, ReplayedBy: "alice"})
	if err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("replay: %v %v", err, rep.Errors)
	}
	if !strings.HasSuffix(rep.Summary, "ok, 1 changed, 1 released") {
		t.Errorf("replay summary = %q, want 1 changed, 1 released", rep.Summary)
	}
	w := b.World()
	if _, ok := w[id("test.thing/new")]; ok {
		t.Error("the replay kept what the runner created after the replayed commit")
	}
	if got, ok := w[id("test.thing/handmade")]; !ok || got.Value != "v" {
		t.Fatalf("the replay deleted or changed the adopted object: %+v (present %v)", got, ok)
	}
	if inv := in.Git(in.Bare, "show", "status:inventory.json"); strings.Contains(inv, "handmade") {
		t.Errorf("the released resource is still in the inventory:\n%s", inv)
	}
	if md := in.Git(in.Bare, "show", "status:STATUS.md"); !strings.Contains(md, "| release | `test.thing/handmade` |") {
		t.Errorf("STATUS.md does not show the release:\n%s", md)
	}
	// Released means unmanaged: the next deploy of a commit that declares
	// it again without adopt: true is refused, as for any object the
	// runner did not create.
	in.Push("again", map[string]string{"main.jsonnet": things(map[string]string{"a": "1", "handmade": "w"})})
	if rep, err := r.Run(ctx, pipeline.Request{}); err != nil || rep.Result != pipeline.ResultFailed || !strings.Contains(rep.Errors.Error(), "adopt: true") {
		t.Errorf("redeclaring a released object without adopt: %v %s %v", err, rep.Summary, rep.Errors)
	}
}

// After a replay that released an adopted object, a plan of the branch
// that still adopts it warns: deploying it would take the object over
// again, though the plan adopts and changes nothing else. Before the fix
// an adopt or a release did not count as a change and the plan was silent.
func TestReplayWarningCountsAdoption(t *testing.T) {
	_, _, r, c1 := deployedAdoption(t, map[string]string{"a": "1"})
	ctx := context.Background()
	if rep, err := r.Run(ctx, pipeline.Request{Rev: c1, Kind: pipeline.KindReplay}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("replay: %v %v", err, rep.Errors)
	}
	plan, err := r.Run(ctx, pipeline.Request{Kind: pipeline.KindPlan})
	if err != nil || plan.Counts["adopt"] != 1 {
		t.Fatalf("plan of main: %v, counts %v; want 1 adopt", err, plan.Counts)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "still contains the changes rolled back by replay of "+c1[:7]) {
		t.Errorf("plan of main after the replay: warnings %q, want the replay warning", plan.Warnings)
	}
}

// deployedAdoption deploys c1, a commit with test.thing/a, then a commit
// with the things given and test.thing/handmade, an object the runner did
// not create, adopted.
func deployedAdoption(t *testing.T, things2 map[string]string) (in *infra, b *steptest.Backend, r *pipeline.Runner, c1 string) {
	t.Helper()
	in = newInfra(t)
	b = steptest.New()
	b.Put(id("test.thing/handmade"), steptest.Spec{Value: "v"})
	r = in.runner(b)
	ctx := context.Background()
	c1 = in.Push("v1", map[string]string{"main.jsonnet": things(map[string]string{"a": "1"})})
	if rep, err := r.Run(ctx, pipeline.Request{}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("%v %v", err, rep.Errors)
	}
	in.Push("import", map[string]string{"main.jsonnet": things(things2,
		"r.resource('test.thing', 'handmade', {value: 'v'}, {adopt: true})")})
	if rep, err := r.Run(ctx, pipeline.Request{}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("%v %v", err, rep.Errors)
	}
	return in, b, r, c1
}
