// Package notify tells the operator about what needs them: one mail per
// event — a deployment failed or was denied, then recovered; drift was
// found; a certificate renewal failed; a job is stuck in the queue — through the host's MTA (the
// sendmail interface Postfix provides) or an SMTP server. The pipeline calls
// a Notifier after it records a run (pipeline.Observer); `runner serve`
// looks for stuck jobs. A failure to send is logged, never fails the run.
package notify

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Event is a kind of thing the operator is told about.
type Event string

// The events. Each is one mail, sent once: a run is recorded once, drift
// only when it differs from the last recorded drift (as the status history
// does), an unattended pass's failure only when it differs from the pass
// recorded before it, a stuck job once per job.
const (
	// DeployFailed: a deploy or replay failed (bad input, an observe error,
	// a failed change, a job given up after its workers died).
	DeployFailed Event = "deploy-failed"
	// DeployDenied: a policy denied a deploy or replay; nothing applied.
	DeployDenied Event = "deploy-denied"
	// Drift: a drift check found the live state differing from the
	// deployed commit.
	Drift Event = "drift"
	// CheckFailed: an unattended drift check (`runner drift`, `runner
	// reconcile`, `runner serve`) failed, e.g. could not observe: while it
	// fails, no drift is seen and no certificate is renewed.
	CheckFailed Event = "check-failed"
	// RenewFailed: a certificate renewal pass (run kind "renew") failed or
	// a policy denied it.
	RenewFailed Event = "renew-failed"
	// HealFailed: a self-heal pass (run kind "heal"; it may carry
	// renewals too) failed or a policy denied it.
	HealFailed Event = "heal-failed"
	// Recovered: a deploy or replay succeeded after the deployment before
	// it had failed or been denied, or an unattended pass worked after the
	// pass recorded before it had failed or been denied (the all-clear of
	// the failure events).
	Recovered Event = "recovered"
	// QueueStuck: a queued job waited longer than mail.stuckAfter.
	QueueStuck Event = "queue-stuck"
)

// Events lists every event, in the order the README documents them.
var Events = []Event{DeployFailed, DeployDenied, Recovered, Drift, CheckFailed, RenewFailed, HealFailed, QueueStuck}

// Config is the notify section of the runner configuration.
type Config struct {
	// Mail sends mail; nil: no mail.
	Mail *MailConfig `json:"mail,omitempty"`
}

// MailConfig says whom to mail, about what, and how.
type MailConfig struct {
	// To lists the recipients (RFC 5322 addresses); at least one.
	To []string `json:"to"`
	// From is the sender (default gitops-runner@<host name>).
	From string `json:"from,omitempty"`
	// Events lists the events mailed (default: all of Events).
	Events []Event `json:"events,omitempty"`
	// Sendmail is the sendmail program that submits mail to the host's MTA
	// (default /usr/sbin/sendmail, which Postfix provides).
	Sendmail string `json:"sendmail,omitempty"`
	// SMTP ("host:port"), when set, submits over SMTP to that server
	// instead of running sendmail (no authentication; STARTTLS when the
	// server offers it).
	SMTP string `json:"smtp,omitempty"`
	// StuckAfter is how long a job may wait in the queue before it is
	// reported as stuck (default 1h).
	StuckAfter steps.Duration `json:"stuckAfter,omitempty"`
	// Timeout bounds one submission (default 30s).
	Timeout steps.Duration `json:"timeout,omitempty"`
}

// Validate checks the section; its errors name the field below notify
// ("mail.to: ...").
func (c *Config) Validate() error {
	m := c.Mail
	if m == nil {
		return nil
	}
	if len(m.To) == 0 {
		return fmt.Errorf("mail.to: give at least one recipient (or remove notify.mail)")
	}
	for i, a := range m.To {
		if _, err := mail.ParseAddress(a); err != nil {
			return fmt.Errorf("mail.to[%d]: %q is not a mail address: %w", i, a, err)
		}
	}
	if m.From != "" {
		if _, err := mail.ParseAddress(m.From); err != nil {
			return fmt.Errorf("mail.from: %q is not a mail address: %w", m.From, err)
		}
	}
	for i, e := range m.Events {
		if !slices.Contains(Events, e) {
			names := make([]string, len(Events))
			for j, e := range Events {
				names[j] = string(e)
			}
			return fmt.Errorf("mail.events[%d]: unknown event %q (want one of %s)", i, e, strings.Join(names, ", "))
		}
	}
	if m.Sendmail != "" && m.SMTP != "" {
		return fmt.Errorf("mail.smtp: give either sendmail or smtp, not both")
	}
	if m.StuckAfter < 0 || m.Timeout < 0 {
		return fmt.Errorf("mail.stuckAfter, mail.timeout: durations must be positive")
	}
	return nil
}

// Wants reports whether the configuration mails about e.
func (m *MailConfig) Wants(e Event) bool {
	return m != nil && (len(m.Events) == 0 || slices.Contains(m.Events, e))
}

// EventOf is the event a recorded run is, if any, given prev, the
// deployment recorded before it, and last, the run recorded just before
// it (nil: none or not known):
//   - a failed or denied deploy or replay; a successful one is Recovered
//     when prev failed or was denied;
//   - a failed or denied unattended pass (drift check, renew, self-heal),
//     unless last is the same failure (same kind, result, stage, errors
//     and failed changes of the same commit): told once, not every pass;
//     nor when prev, a failed deployment, failed the same way (a wrong
//     token fails both: its mail told it);
//   - drift found, unless it is no more than what prev, a failed or
//     denied deployment, left unapplied (the failure's mail told it);
//   - an unattended pass that worked (no drift found) after last, an
//     unattended pass, failed: Recovered.
//
// Other successful, planned and superseded runs are not events.
func EventOf(rep, prev, last *pipeline.Report) (Event, bool) {
	switch {
	case isDeployment(rep) && rep.Result == pipeline.ResultOK && failed(prev):
		return Recovered, true
	case isDeployment(rep) && rep.Result == pipeline.ResultFailed:
		return DeployFailed, true
	case isDeployment(rep) && rep.Result == pipeline.ResultDenied:
		return DeployDenied, true
	case isPass(rep) && failed(rep):
		if isPass(last) && sameFailure(rep, last) || isDeployment(prev) && failed(prev) && sameErrors(rep, prev) {
			return "", false // told already: by the pass before, or by the failed deployment's mail
		}
		switch rep.Kind {
		case pipeline.KindRenew:
			return RenewFailed, true
		case pipeline.KindHeal:
			return HealFailed, true
		}
		return CheckFailed, true
	case rep.Kind == pipeline.KindDrift && rep.Result == pipeline.ResultPlanned && rep.ToChange() > 0:
		if failed(prev) && leftOver(rep, prev) {
			return "", false
		}
		return Drift, true
	case isPass(rep) && isPass(last) && failed(last):
		return Recovered, true
	}
	return "", false
}

// isPass reports whether a run is an unattended pass: a drift check, or a
// renew or self-heal pass (of any result).
func isPass(rep *pipeline.Report) bool {
	return rep != nil && (rep.Kind == pipeline.KindDrift || rep.Kind == pipeline.KindRenew || rep.Kind == pipeline.KindHeal)
}

// sameFailure reports whether two failed runs failed the same way: same
// kind, result and commit, and sameErrors.
func sameFailure(a, b *pipeline.Report) bool {
	return a.Kind == b.Kind && a.Result == b.Result && a.Source.Commit == b.Source.Commit && sameErrors(a, b)
}

// sameErrors reports whether two failed runs stopped in the same stage
// with the same error summaries, policy denials and failed changes.
func sameErrors(a, b *pipeline.Report) bool {
	errs := func(r *pipeline.Report) string {
		parts := []string{string(r.Stage)}
		for _, d := range r.Errors {
			parts = append(parts, d.Summary)
		}
		for _, f := range r.Policy.Deny {
			parts = append(parts, "denied: "+f.Message)
		}
		for _, c := range r.Applied {
			if c.Status == steps.StatusFailed {
				parts = append(parts, c.ID+" failed")
			}
		}
		return strings.Join(parts, "\n")
	}
	return errs(a) == errs(b)
}

// failed reports whether a run failed or was denied.
func failed(rep *pipeline.Report) bool {
	return rep != nil && (rep.Result == pipeline.ResultFailed || rep.Result == pipeline.ResultDenied)
}

// leftOver reports whether every change a drift check planned is one the
// deployment dep planned and did not apply.
func leftOver(drift, dep *pipeline.Report) bool {
	done := map[string]bool{}
	for _, a := range dep.Applied {
		if a.Status == steps.StatusOK {
			done[a.ID] = true
		}
	}
	left := map[string]bool{}
	for _, p := range dep.Plan {
		if p.Action != steps.NoOp && !done[p.ID] {
			left[p.ID] = true
		}
	}
	for _, p := range drift.Plan {
		if p.Action != steps.NoOp && !left[p.ID] {
			return false
		}
	}
	return true
}

// isDeployment reports whether a run is a deploy or replay (of any result).
func isDeployment(rep *pipeline.Report) bool {
	return rep != nil && (rep.Kind == pipeline.KindDeploy || rep.Kind == pipeline.KindReplay)
}

// ranDeployment reports whether a run is a deployment that ran: a deploy or
// replay not superseded by a newer push and not plan-only.
func ranDeployment(rep *pipeline.Report) bool {
	return isDeployment(rep) && rep.Result != pipeline.ResultSuperseded && rep.Result != pipeline.ResultPlanned
}
