package notify

import (
	"context"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/postfixtest"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/queue"
	"github.com/gitops-runner/gitops-runner/steps"
)

func report(kind pipeline.RunKind, result pipeline.Result, changes int) *pipeline.Report {
	rep := &pipeline.Report{Kind: kind, Result: result, RunID: "20261129T170000Z-abcdef", Summary: string(kind) + " 1a2b3c4: " + string(result)}
	rep.Source.Commit = "1a2b3c4d5e6f70811a2b3c4d5e6f70811a2b3c4d"
	rep.Source.Branch = "main"
	for i := 0; i < changes; i++ {
		rep.Plan = append(rep.Plan, pipeline.PlanEntry{ID: "test.thing/a", Action: steps.Update})
	}
	rep.Plan = append(rep.Plan, pipeline.PlanEntry{ID: "test.thing/b", Action: steps.NoOp})
	return rep
}

func TestEventOf(t *testing.T) {
	otherDrift := report(pipeline.KindDrift, pipeline.ResultPlanned, 1)
	otherDrift.Plan = append(otherDrift.Plan, pipeline.PlanEntry{ID: "test.thing/c", Action: steps.Delete})
	// A drift check whose plan only adopts (nothing to write) is no drift:
	// the run records none, so no mail either.
	adoptOnly := report(pipeline.KindDrift, pipeline.ResultPlanned, 0)
	adoptOnly.Plan = append(adoptOnly.Plan, pipeline.PlanEntry{ID: "test.thing/d", Action: steps.Adopt})
	failed, denied, fine := report(pipeline.KindDeploy, pipeline.ResultFailed, 1), report(pipeline.KindReplay, pipeline.ResultDenied, 1), report(pipeline.KindDeploy, pipeline.ResultOK, 1)
	checkFailed, otherCheckFailed := report(pipeline.KindDrift, pipeline.ResultFailed, 0), report(pipeline.KindDrift, pipeline.ResultFailed, 0)
	checkFailed.Stage, otherCheckFailed.Stage = pipeline.StageObserve, pipeline.StageObserve
	checkFailed.Errors = pipeline.Diagnostics{{Summary: "observe proxmox.lxc/web: 401 authentication failure"}}
	otherCheckFailed.Errors = pipeline.Diagnostics{{Summary: "observe proxmox.lxc/web: connection refused"}}
	deployFailedSame := report(pipeline.KindDeploy, pipeline.ResultFailed, 0)
	deployFailedSame.Stage, deployFailedSame.Errors = checkFailed.Stage, checkFailed.Errors
	for _, tc := range []struct {
		rep, prev *pipeline.Report
		want      Event
		last      *pipeline.Report // the run recorded before rep; nil: prev
	}{
		{fine, failed, Recovered, nil},
		{report(pipeline.KindReplay, pipeline.ResultOK, 1), denied, Recovered, nil},
		{fine, fine, "", nil},
		{fine, nil, "", nil},
		{failed, failed, DeployFailed, nil},
		{report(pipeline.KindRenew, pipeline.ResultOK, 1), failed, "", nil},
		{report(pipeline.KindDrift, pipeline.ResultPlanned, 0), failed, "", nil},
		// Drift that is what the failed deployment left: told by its mail.
		{report(pipeline.KindDrift, pipeline.ResultPlanned, 1), failed, "", nil},
		{report(pipeline.KindDrift, pipeline.ResultPlanned, 1), denied, "", nil},
		{report(pipeline.KindDrift, pipeline.ResultPlanned, 1), fine, Drift, nil},
		{otherDrift, failed, Drift, nil},
		{report(pipeline.KindDeploy, pipeline.ResultFailed, 1), nil, DeployFailed, nil},
		{report(pipeline.KindReplay, pipeline.ResultFailed, 1), nil, DeployFailed, nil},
		{report(pipeline.KindDeploy, pipeline.ResultDenied, 1), nil, DeployDenied, nil},
		{report(pipeline.KindDeploy, pipeline.ResultOK, 1), nil, "", nil},
		{report(pipeline.KindDeploy, pipeline.ResultPlanned, 1), nil, "", nil},
		{report(pipeline.KindDeploy, pipeline.ResultSuperseded, 0), nil, "", nil},
		{report(pipeline.KindDrift, pipeline.ResultPlanned, 2), nil, Drift, nil},
		{adoptOnly, nil, "", nil},
		{report(pipeline.KindDrift, pipeline.ResultPlanned, 0), nil, "", nil},
		{report(pipeline.KindRenew, pipeline.ResultOK, 1), nil, "", nil},
		// Every failed or denied unattended pass is told, once per
		// distinct failure; the pass that works again is Recovered.
		{checkFailed, fine, CheckFailed, nil},
		{checkFailed, fine, CheckFailed, fine},
		{checkFailed, fine, "", checkFailed},
		{otherCheckFailed, fine, CheckFailed, checkFailed},
		{checkFailed, deployFailedSame, "", deployFailedSame},
		{checkFailed, failed, CheckFailed, failed},
		{report(pipeline.KindRenew, pipeline.ResultFailed, 1), nil, RenewFailed, nil},
		{report(pipeline.KindRenew, pipeline.ResultDenied, 1), nil, RenewFailed, nil},
		{report(pipeline.KindRenew, pipeline.ResultFailed, 1), nil, "", report(pipeline.KindRenew, pipeline.ResultFailed, 1)},
		{report(pipeline.KindRenew, pipeline.ResultFailed, 1), nil, RenewFailed, checkFailed},
		{report(pipeline.KindHeal, pipeline.ResultFailed, 2), nil, HealFailed, nil},
		{report(pipeline.KindHeal, pipeline.ResultDenied, 2), nil, HealFailed, nil},
		{report(pipeline.KindHeal, pipeline.ResultDenied, 2), nil, "", report(pipeline.KindHeal, pipeline.ResultDenied, 2)},
		{report(pipeline.KindDrift, pipeline.ResultPlanned, 0), fine, Recovered, checkFailed},
		{report(pipeline.KindRenew, pipeline.ResultOK, 1), fine, Recovered, report(pipeline.KindRenew, pipeline.ResultFailed, 1)},
		{report(pipeline.KindDrift, pipeline.ResultPlanned, 1), fine, Drift, checkFailed},
		{report(pipeline.KindDrift, pipeline.ResultPlanned, 0), fine, "", fine},
	} {
		last := tc.last
		if last == nil {
			last = tc.prev
		}
		got, ok := EventOf(tc.rep, tc.prev, last)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("EventOf(%s %s) = %q, %v; want %q", tc.rep.Kind, tc.rep.Result, got, ok, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mail *MailConfig
		want string // "" valid, else a substring of the error
	}{
		{nil, ""},
		{&MailConfig{To: []string{"ops@mydomain.com"}}, ""},
		{&MailConfig{To: []string{"Ops <ops@mydomain.com>"}, Events: []Event{DeployFailed, Drift}}, ""},
		{&MailConfig{}, "mail.to: give at least one recipient"},
		{&MailConfig{To: []string{"not an address"}}, "mail.to[0]"},
		{&MailConfig{To: []string{"ops@mydomain.com"}, From: "@@"}, "mail.from"},
		{&MailConfig{To: []string{"ops@mydomain.com"}, Events: []Event{"deploy-failled"}}, `mail.events[0]: unknown event "deploy-failled" (want one of deploy-failed,`},
		{&MailConfig{To: []string{"ops@mydomain.com"}, SMTP: "mx:25", Sendmail: "/usr/sbin/sendmail"}, "not both"},
	} {
		err := (&Config{Mail: tc.mail}).Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.mail, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc.mail, err, tc.want)
		}
	}
}

// A secret in a report's text (an error quoting it) never reaches the mail,
// even where the report's own redaction missed it: the whole message is
// redacted.
func TestMessageRedacted(t *testing.T) {
	const secret = "hunter2-very-secret"
	rep := report(pipeline.KindDeploy, pipeline.ResultFailed, 1)
	rep.Summary = "deploy 1a2b3c4: failed " + secret
	rep.Applied = []pipeline.AppliedChange{{ID: "test.thing/a", Action: steps.Update, Status: steps.StatusFailed,
		Error: "401: token " + secret + " rejected", Hint: "fix the token"}}
	red := &steps.Redactor{}
	red.Add(secret)
	n := &Notifier{Mail: &MailConfig{To: []string{"ops@mydomain.com"}}, Repo: "infra", StatusBranch: "status", Redact: red.Redact}
	raw, err := n.encode(n.RunMessage(DeployFailed, rep, nil, nil, "feedface"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), secret) || strings.Contains(string(raw), "hunter2") {
		t.Fatalf("the secret is in the mail:\n%s", raw)
	}
	for _, want := range []string{"fix the token", "git show origin/status:STATUS.md", "Auto-Submitted: auto-generated"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("mail lacks %q:\n%s", want, raw)
		}
	}
}

// TestPostfix submits through a real Postfix: a failed deploy is one mail
// (through sendmail and through SMTP), a successful one none, and a stuck
// job one mail however often it is checked.
func TestPostfix(t *testing.T) {
	pf := postfixtest.Start(t)
	rep := report(pipeline.KindDeploy, pipeline.ResultFailed, 1)
	rep.Summary = "deploy 1a2b3c4: failed, 0 changed, 1 failed, 0 skipped"
	rep.Applied = []pipeline.AppliedChange{{ID: "test.thing/a", Action: steps.Update, Status: steps.StatusFailed,
		Error: "injected fault", Hint: "fix the spec or the backend as the error says, then push again"}}
	n := &Notifier{Mail: &MailConfig{To: []string{postfixtest.Address}, Sendmail: pf.Sendmail}, Repo: "infra", RepoPath: "/srv/infra.git", StatusBranch: "status"}

	n.Recorded(report(pipeline.KindDeploy, pipeline.ResultOK, 1), "c0ffee")
	n.Recorded(rep, "c0ffee1234")
	msgs := pf.Settle(t, time.Minute)
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want 1", len(msgs))
	}
	m := msgs[0]
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if subj != "[infra] "+rep.Summary {
		t.Errorf("subject %q", subj)
	}
	if got := m.Header.Get("X-Gitops-Runner-Event"); got != string(DeployFailed) {
		t.Errorf("event header %q", got)
	}
	body := postfixtest.Body(t, m)
	for _, want := range []string{rep.Summary, "update test.thing/a: failed", "injected fault", "what to do: fix the spec", "git show origin/status:STATUS.md", "Status:     commit c0ffee1 on branch status"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}

	// The same through SMTP.
	n.Mail.Sendmail, n.Mail.SMTP = "", pf.SMTPAddr
	n.Recorded(rep, "c0ffee1234")
	if msgs := pf.Settle(t, time.Minute); len(msgs) != 2 {
		t.Fatalf("%d mails after the SMTP submission, want 2", len(msgs))
	}

	// A stuck job: one mail, however often serve looks.
	sp, err := queue.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := sp.Add(&queue.Job{Ref: "refs/heads/main", New: rep.Source.Commit, Pusher: "alice", PushedAt: now.Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := sp.Add(&queue.Job{Ref: "refs/heads/main", New: rep.Source.Commit, Pusher: "alice", PushedAt: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	marks := t.TempDir()
	for i, want := range []int{1, 0} {
		sent, err := n.Stuck(context.Background(), sp, marks)
		if err != nil {
			t.Fatal(err)
		}
		if sent != want {
			t.Errorf("check %d: %d mails sent, want %d", i+1, sent, want)
		}
	}
	msgs = pf.Settle(t, time.Minute)
	if len(msgs) != 3 {
		t.Fatalf("%d mails after the stuck checks, want 3", len(msgs))
	}
}
