package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

func TestSelectReconcile(t *testing.T) {
	spec := steptest.Spec{Value: "v"}
	owned := func(id string, a steps.Action) steps.Change {
		return steps.Change{ID: steptest.ID(id), Action: a, Target: steps.Target{ID: steptest.ID(id), Want: spec, Last: spec}}
	}
	edited := owned("test.thing/edited", steps.Update)
	edited.Target.Last = steptest.Spec{Value: "older"} // the last apply of this spec failed
	renamed := owned("test.thing/renamed", steps.Update)
	renamed.Target.RenamedFrom = steptest.ID("test.thing/old")
	unowned := owned("test.thing/new", steps.Create)
	unowned.Target.Last = nil
	plan := &steps.Plan{
		Changes: []steps.Change{
			owned("test.thing/guest", steps.Update),
			owned("test.cert/web", steps.Update),     // renewal, depends on nothing pending
			owned("test.cert/mail", steps.Update),    // renewal, depends on the drifted guest
			owned("test.cert/same", steps.NoOp),      // in sync
			owned("test.record/www", steps.Update),   // drift
			owned("test.record/gone", steps.Delete),  // drift, but a delete
			owned("test.record/ns", steps.Create),    // deleted by hand
			owned("test.record/alias", steps.Update), // depends on a held delete
			edited, renamed, unowned,
		},
		Deps: map[steps.ID][]steps.ID{
			steptest.ID("test.cert/mail"):    {steptest.ID("test.thing/guest")},
			steptest.ID("test.cert/web"):     {steptest.ID("test.cert/same")},
			steptest.ID("test.record/alias"): {steptest.ID("test.record/gone")},
		},
	}
	renewal := func(c steps.Change) bool { return c.ID.Kind == "test.cert" }
	ids := func(p *steps.Plan) []string {
		var out []string
		for _, c := range p.Changes {
			out = append(out, c.ID.String())
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		rc       pipeline.Reconcile
		want     []string
		renewals int
		held     map[string]string // id → part of the reason
	}{
		{name: "nothing allowed", rc: pipeline.Reconcile{},
			held: map[string]string{"test.cert/web": "reconcile.renewals is off", "test.record/www": "selfHeal does not list test.record",
				// The real reason, not the selfHeal list: a push alone applies these.
				"test.thing/edited": "differs from the one last applied", "test.thing/new": "not (yet) owned", "test.record/gone": "only a push deletes"}},
		{name: "renewals", rc: pipeline.Reconcile{Renewals: true}, want: []string{"test.cert/web"}, renewals: 1,
			held: map[string]string{"test.cert/mail": "depends on test.thing/guest", "test.thing/guest": "selfHeal does not list test.thing"}},
		{name: "renewals and the guest heals", rc: pipeline.Reconcile{Renewals: true, SelfHeal: []string{"test.thing"}},
			want: []string{"test.thing/guest", "test.cert/web", "test.cert/mail"}, renewals: 2,
			held: map[string]string{"test.thing/edited": "differs from the one last applied", "test.thing/renamed": "not (yet) owned", "test.thing/new": "not (yet) owned"}},
		{name: "records heal, no delete", rc: pipeline.Reconcile{SelfHeal: []string{"test.record"}},
			want: []string{"test.record/www", "test.record/ns"},
			held: map[string]string{"test.record/gone": "only a push deletes", "test.record/alias": "depends on test.record/gone", "test.cert/web": "renewals is off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel := pipeline.SelectReconcile(plan, tc.rc, renewal)
			if got := ids(sel.Plan); !slices.Equal(got, tc.want) {
				t.Errorf("selected %v, want %v", got, tc.want)
			}
			if sel.Renewals != tc.renewals {
				t.Errorf("renewals = %d, want %d", sel.Renewals, tc.renewals)
			}
			for id, why := range tc.held {
				if got := sel.Held[steptest.ID(id)]; !strings.Contains(got, why) {
					t.Errorf("%s held because %q, want it to say %q", id, got, why)
				}
			}
			for id, deps := range sel.Plan.Deps {
				for _, d := range deps {
					if !slices.Contains(ids(sel.Plan), d.String()) {
						t.Errorf("%s keeps a dependency on %s, which is not selected", id, d)
					}
				}
			}
		})
	}
}

// renewing is the test backend whose test.thing changes named cert-* are
// renewals (what steps/acme says of a certificate in its renewal window).
type renewing struct{ *steptest.Backend }

func (renewing) Renewal(c steps.Change) bool { return strings.HasPrefix(c.ID.Name, "cert-") }

// denyAll denies every plan that changes something.
type denyAll struct{ seen int }

func (d *denyAll) Check(_ context.Context, _ []pipeline.PolicyFile, in *pipeline.PolicyInput) (pipeline.PolicyResult, error) {
	d.seen = len(in.Plan)
	return pipeline.PolicyResult{Deny: []pipeline.Finding{{Message: "no changes today"}}}, nil
}

func TestReconcileRenewsAndHealsOnlyWhatItMay(t *testing.T) {
	in := newInfra(t)
	b := steptest.New()
	r := in.runner(renewing{b})
	ctx := context.Background()
	c := in.Push("three", map[string]string{"main.jsonnet": things(map[string]string{"cert-web": "1", "guest": "1", "other": "1"},
		"r.resource('test.thing', 'cert-mail', {value: '1'}, {dependsOn: ['test.thing/guest']})")})
	if rep, err := r.Run(ctx, pipeline.Request{}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("deploy: %v %v", rep.Summary, err)
	}
	status := func() string { return in.Git(in.Bare, "rev-list", "--count", "status") }

	// Time makes both certificates due; someone edits the guest and "other".
	for _, n := range []string{"cert-web", "cert-mail", "guest", "other"} {
		b.Put(steptest.ID("test.thing/"+n), steptest.Spec{Value: "by-hand"})
	}
	b.Reset()
	rc := &pipeline.Reconcile{Renewals: true}
	rep, err := r.Run(ctx, pipeline.Request{Kind: pipeline.KindDrift, Reconcile: rc})
	if err != nil {
		t.Fatal(err)
	}
	if want := "renew " + c[:7] + ": ok, 1 renewed"; rep.Summary != want || rep.Kind != pipeline.KindRenew {
		t.Fatalf("summary %q (kind %s), want %q", rep.Summary, rep.Kind, want)
	}
	if _, applied := b.Calls(); !slices.Equal(applied, []steps.ID{steptest.ID("test.thing/cert-web")}) {
		t.Errorf("applied %v, want only the certificate that depends on no drift", applied)
	}
	var js struct {
		Kind string `json:"kind"`
		Plan []pipeline.PlanEntry
	}
	if err := json.Unmarshal([]byte(in.Git(in.Bare, "show", "status:status.json")), &js); err != nil || js.Kind != "renew" {
		t.Fatalf("status.json kind %q (%v)", js.Kind, err)
	}
	for _, p := range js.Plan {
		if p.ID == "test.thing/cert-mail" && !strings.Contains(strings.Join(p.Notes, ";"), "not applied: depends on test.thing/guest") {
			t.Errorf("cert-mail's notes %q do not say why it waits", p.Notes)
		}
	}

	// The guest may heal now: it and the certificate waiting for it apply.
	b.Reset()
	rc.SelfHeal = []string{"test.thing"}
	rep, err = r.Run(ctx, pipeline.Request{Kind: pipeline.KindDrift, Reconcile: rc})
	if err != nil {
		t.Fatal(err)
	}
	if want := "self-heal " + c[:7] + ": ok, 3 changed"; rep.Summary != want || rep.Kind != pipeline.KindHeal {
		t.Fatalf("summary %q, want %q", rep.Summary, want)
	}
	if w := b.World(); w[steptest.ID("test.thing/guest")].Value != "1" || w[steptest.ID("test.thing/other")].Value != "1" {
		t.Errorf("world after self-heal: %v", w)
	}

	// In sync: nothing applied, nothing recorded.
	b.Reset()
	before := status()
	rep, err = r.Run(ctx, pipeline.Request{Kind: pipeline.KindDrift, Reconcile: rc})
	if _, applied := b.Calls(); err != nil || rep.Kind != pipeline.KindDrift || len(applied) != 0 || status() != before {
		t.Fatalf("second pass: %s, applied %v, status %s → %s (%v)", rep.Summary, applied, before, status(), err)
	}

	// A policy still judges what a reconcile applies: a denial is recorded
	// and nothing applied.
	b.Put(steptest.ID("test.thing/cert-web"), steptest.Spec{Value: "by-hand"})
	b.Put(steptest.ID("test.thing/other"), steptest.Spec{Value: "by-hand"})
	b.Reset()
	deny := &denyAll{}
	r.Policy = deny
	rep, err = r.Run(ctx, pipeline.Request{Kind: pipeline.KindDrift, Reconcile: &pipeline.Reconcile{Renewals: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, applied := b.Calls(); rep.Result != pipeline.ResultDenied || rep.Kind != pipeline.KindRenew || len(applied) != 0 {
		t.Fatalf("denied renewal: %s, applied %v", rep.Summary, applied)
	}
	if deny.seen != 1 {
		t.Errorf("the policy saw %d planned changes, want the 1 renewal it would apply", deny.seen)
	}
	if got := in.Git(in.Bare, "log", "-1", "--format=%s", "status"); !strings.HasPrefix(got, "renew "+c[:7]+": denied") {
		t.Errorf("last status %q, want the denied renewal", got)
	}
	// The same denial next pass is not recorded again.
	before = status()
	if rep, err = r.Run(ctx, pipeline.Request{Kind: pipeline.KindDrift, Reconcile: &pipeline.Reconcile{Renewals: true}}); err != nil || rep.Result != pipeline.ResultDenied {
		t.Fatalf("second denied pass: %s (%v)", rep.Summary, err)
	}
	if status() != before {
		t.Errorf("the same denial was recorded twice")
	}
}

// unreachable is the test backend whose Observe fails while err is set.
type unreachable struct {
	*steptest.Backend
	err error
}

func (u *unreachable) Observe(ctx context.Context, ts []steps.Target) (map[steps.ID]steps.Live, error) {
	if u.err != nil {
		return nil, u.err
	}
	return u.Backend.Observe(ctx, ts)
}

// A drift check that fails the same way every interval is recorded once.
func TestFailingDriftCheckIsRecordedOnce(t *testing.T) {
	in := newInfra(t)
	b := &unreachable{Backend: steptest.New()}
	r := in.runner(b)
	ctx := context.Background()
	in.Push("one", map[string]string{"main.jsonnet": things(map[string]string{"a": "1"})})
	if rep, err := r.Run(ctx, pipeline.Request{}); err != nil || rep.Result != pipeline.ResultOK {
		t.Fatalf("deploy: %v %v", rep.Summary, err)
	}
	status := func() string { return in.Git(in.Bare, "rev-list", "--count", "status") }
	for i, tc := range []struct {
		err  string
		want string // status commits after the pass
	}{
		{"connection refused", "2"}, {"connection refused", "2"}, {"401 authentication failure", "3"}, {"401 authentication failure", "3"},
	} {
		b.err = errors.New(tc.err)
		rep, err := r.Run(ctx, pipeline.Request{Kind: pipeline.KindDrift, Reconcile: &pipeline.Reconcile{Renewals: true}})
		if err != nil || rep.Result != pipeline.ResultFailed {
			t.Fatalf("pass %d: %s (%v)", i, rep.Summary, err)
		}
		if got := status(); got != tc.want {
			t.Errorf("pass %d (%s): %s status commits, want %s", i, tc.err, got, tc.want)
		}
	}
	// It works again: the first check in sync is recorded (the failure is
	// over), the next is not.
	b.err = nil
	for i, want := range []string{"4", "4"} {
		rep, err := r.Run(ctx, pipeline.Request{Kind: pipeline.KindDrift, Reconcile: &pipeline.Reconcile{Renewals: true}})
		if err != nil || rep.Result != pipeline.ResultPlanned || rep.Kind != pipeline.KindDrift {
			t.Fatalf("pass %d in sync: %s (%v)", i, rep.Summary, err)
		}
		if got := status(); got != want {
			t.Errorf("pass %d in sync: %s status commits, want %s", i, got, want)
		}
	}
}
