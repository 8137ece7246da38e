package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"
	"github.com/gitops-runner/gitops-runner/runner/monitor"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
)

// DefaultSendmail is the sendmail program of Debian's Postfix (and of every
// MTA that offers the sendmail interface).
const DefaultSendmail = "/usr/sbin/sendmail"

// Notifier mails the events of one repo. It implements pipeline.Observer;
// Stuck reports the repo's stuck jobs.
type Notifier struct {
	Mail *MailConfig
	// Repo names the repo in subjects and bodies (its config name), and
	// RepoPath is its git directory.
	Repo, RepoPath string
	// Branch and StatusBranch are the deployed and the status branch.
	Branch, StatusBranch string
	// Redact removes secret values; applied to every message as a whole,
	// on top of the report's own redaction.
	Redact func(string) string
	// Log receives a warning when a message cannot be sent.
	Log logrus.FieldLogger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Message is one mail before it is encoded.
type Message struct {
	Event   Event
	Subject string
	Body    string
	// ID is the Message-ID's left part (unique per message).
	ID string
}

// Recorded mails the event a recorded run is, if the configuration wants
// it (pipeline.Observer). It reads the status history for the deployment
// before (Recovered, drift a failed deployment left) and the run recorded
// just before (an unattended pass failing as it did last time is not
// mailed again; one that works after a failure is Recovered). Errors are
// logged: a mail that cannot be sent never fails the run.
func (n *Notifier) Recorded(rep *pipeline.Report, statusCommit string) {
	if n.Mail == nil {
		return
	}
	prev, last, err := n.before(statusCommit)
	if err != nil {
		n.log().Warnf("notify: %v", err)
	}
	ev, ok := EventOf(rep, prev, last)
	if !ok || !n.Mail.Wants(ev) {
		return
	}
	msg := n.RunMessage(ev, rep, prev, last, statusCommit)
	if err := n.Send(context.Background(), msg); err != nil {
		n.log().WithField("event", string(ev)).Warnf("notify: %v", err)
		return
	}
	n.log().WithField("event", string(ev)).WithField("to", strings.Join(n.Mail.To, ",")).Info("notify: mailed")
}

// before reads the status branch before statusCommit: prev, the last
// deployment (a deploy or replay that ran), and last, the run recorded
// just before statusCommit; nil: none.
func (n *Notifier) before(statusCommit string) (prev, last *pipeline.Report, err error) {
	g, err := gitstore.Open(n.RepoPath)
	if err != nil {
		return nil, nil, fmt.Errorf("read the status history: %w", err)
	}
	passed := false
	err = monitor.History(g, n.StatusBranch, plumbing.ZeroHash, 1000, func(h plumbing.Hash, rep *pipeline.Report) bool {
		if !passed {
			passed = h.String() == statusCommit
			return true
		}
		if last == nil {
			last = rep
		}
		if ranDeployment(rep) {
			prev = rep
			return false
		}
		return true
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read the status history: %w", err)
	}
	return prev, last, nil
}

// RunMessage renders the mail about a recorded run: subject as the status
// commit's, body with where to look, the report's text (the failing steps
// with their hints, the errors, the plan) and how to read the status. prev
// is the deployment before and last the run recorded just before
// (Recovered says which of them failed; else unused).
func (n *Notifier) RunMessage(ev Event, rep, prev, last *pipeline.Report, statusCommit string) Message {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", rep.Summary)
	fmt.Fprintf(&b, "Repository: %s (%s), branch %s\n", n.Repo, n.RepoPath, rep.Source.Branch)
	commit := gitstore.Short(rep.Source.Commit)
	if rep.Source.Subject != "" {
		commit += fmt.Sprintf(" %q", rep.Source.Subject)
	}
	if rep.Source.PushedBy != "" {
		commit += ", pushed by " + rep.Source.PushedBy
	}
	fmt.Fprintf(&b, "Commit:     %s\n", commit)
	run := fmt.Sprintf("%s (%s), finished %s", rep.RunID, rep.Kind, rep.Finished.UTC().Format(time.RFC3339))
	if rep.Stage != "" {
		run += ", stopped in " + string(rep.Stage)
	}
	fmt.Fprintf(&b, "Run:        %s\n", run)
	fmt.Fprintf(&b, "Status:     commit %s on branch %s\n", gitstore.Short(statusCommit), n.StatusBranch)
	if _, rest, ok := strings.Cut(rep.Text(), "\n"); ok && strings.TrimSpace(rest) != "" {
		fmt.Fprintf(&b, "%s\n", strings.TrimRight(rest, "\n"))
	}
	switch ev {
	case Drift:
		fmt.Fprintf(&b, "\nThe live state differs from the deployed commit: change it back, or change the\nrepo to match and push; `runner replay %s` puts the deployed state back.\n", gitstore.Short(rep.Source.Commit))
	case DeployDenied:
		b.WriteString("\nNothing was applied. Change the commit (or the policy) and push again.\n")
	case CheckFailed:
		b.WriteString("\nWhile the check fails, no drift is seen, nothing heals and no certificate is renewed.\n")
	case RenewFailed, HealFailed:
		b.WriteString("\nThe pass is tried again every drift interval (a failed certificate order backs off).\n")
	case Recovered:
		switch {
		case isDeployment(rep) && prev != nil:
			fmt.Fprintf(&b, "\nRecovered: the deployment before, %s (run %s), had %s; this one deployed.\n", prev.Summary, prev.RunID, prev.Result)
		case last != nil:
			fmt.Fprintf(&b, "\nRecovered: the unattended pass before, %s (run %s), had %s; this one worked.\n", last.Summary, last.RunID, last.Result)
		}
	}
	fmt.Fprintf(&b, "\nHow to look:\n  git fetch origin %s && git show origin/%s:STATUS.md\n  git log --format='%%h %%s' origin/%s    # the run history\n", n.StatusBranch, n.StatusBranch, n.StatusBranch)
	return Message{Event: ev, Subject: fmt.Sprintf("[%s] %s", n.Repo, rep.Summary), Body: b.String(), ID: rep.RunID}
}

// Send submits msg to every recipient: through sendmail, or over SMTP when
// mail.smtp is set. The whole message is redacted first.
func (n *Notifier) Send(ctx context.Context, msg Message) error {
	raw, err := n.encode(msg)
	if err != nil {
		return err
	}
	timeout := 30 * time.Second
	if n.Mail.Timeout > 0 {
		timeout = time.Duration(n.Mail.Timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if n.Mail.SMTP != "" {
		return n.sendSMTP(ctx, raw)
	}
	return n.sendmail(ctx, raw)
}

// from is the sender address: mail.from, else gitops-runner@<host name>.
func (n *Notifier) from() string {
	if n.Mail.From != "" {
		return n.Mail.From
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "gitops-runner@" + host
}

// encode renders the message (RFC 5322 headers, a quoted-printable UTF-8
// text body, LF line ends as sendmail expects them; net/smtp turns them into
// CRLF). Auto-Submitted (RFC 3834) keeps vacation responders quiet.
func (n *Notifier) encode(msg Message) ([]byte, error) {
	redact := n.Redact
	if redact == nil {
		redact = func(s string) string { return s }
	}
	host := "gitops-runner"
	if a, err := mail.ParseAddress(n.from()); err == nil {
		if _, h, ok := strings.Cut(a.Address, "@"); ok {
			host = h
		}
	}
	id := msg.ID
	if id == "" {
		var r [6]byte
		_, _ = rand.Read(r[:])
		id = hex.EncodeToString(r[:])
	}
	var b bytes.Buffer
	header := func(k, v string) {
		// No CR or LF in a header: a value can never start a new one.
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		fmt.Fprintf(&b, "%s: %s\n", k, v)
	}
	header("From", n.from())
	header("To", strings.Join(n.Mail.To, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", redact(msg.Subject)))
	header("Date", n.now().Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<%s.%s@%s>", id, msg.Event, host))
	header("Auto-Submitted", "auto-generated")
	header("X-Gitops-Runner-Event", string(msg.Event))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(redact(msg.Body))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	// quotedprintable writes CRLF; sendmail wants the local LF convention.
	return bytes.ReplaceAll(b.Bytes(), []byte("\r\n"), []byte("\n")), nil
}

// sendmail submits through the sendmail program with explicit recipients
// (so no header can add one) and -i: a line of a lone "." is text, not the
// end of the message (Postfix sendmail(1), postfix.org/sendmail.1.html).
func (n *Notifier) sendmail(ctx context.Context, raw []byte) error {
	prog := n.Mail.Sendmail
	if prog == "" {
		prog = DefaultSendmail
	}
	args := []string{"-i"}
	if n.Mail.From != "" {
		args = append(args, "-f", n.Mail.From)
	}
	args = append(args, "--")
	for _, a := range n.Mail.To {
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return fmt.Errorf("notify.mail.to: %q: %w", a, err)
		}
		args = append(args, addr.Address)
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("mail through %s (notify.mail.sendmail): %w: %s", prog, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sendSMTP submits over SMTP (RFC 5321) to mail.smtp, with STARTTLS when the
// server offers it.
func (n *Notifier) sendSMTP(ctx context.Context, raw []byte) error {
	addr := n.Mail.SMTP
	fail := func(err error) error {
		return fmt.Errorf("mail through SMTP server %s (notify.mail.smtp): %w", addr, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail(err)
	}
	defer conn.Close() //nolint:errcheck // Quit below reports what matters
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fail(err)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fail(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fail(err)
		}
	}
	from, err := mail.ParseAddress(n.from())
	if err != nil {
		return fail(err)
	}
	if err := c.Mail(from.Address); err != nil {
		return fail(err)
	}
	for _, a := range n.Mail.To {
		to, err := mail.ParseAddress(a)
		if err != nil {
			return fail(err)
		}
		if err := c.Rcpt(to.Address); err != nil {
			return fail(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fail(err)
	}
	if _, err := w.Write(raw); err != nil {
		return fail(err)
	}
	if err := w.Close(); err != nil {
		return fail(err)
	}
	if err := c.Quit(); err != nil {
		return fail(err)
	}
	return nil
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

func (n *Notifier) log() logrus.FieldLogger {
	if n.Log != nil {
		return n.Log
	}
	l := logrus.New()
	l.Out = os.Stderr
	return l
}
