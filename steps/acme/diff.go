package acme

import (
	"fmt"
	"os"
	osuser "os/user"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

// work is what Diff decided Apply must do (Change.Detail).
type work struct {
	Dir string
	// Issue: obtain a new certificate; Replaces is the ARI CertID of the one
	// it replaces (RFC 9773), if any.
	Issue    bool
	Replaces string
	// Deploy the certificate issued earlier whose deploy did not succeed
	// (Live.Undeployed) instead of ordering one.
	Deploy *Undeployed
	// Renewal: Issue only because time made it due (expired, or inside
	// the renewal window); names, key type and CA are as deployed.
	Renewal bool
	// Finish an interrupted deploy, Fix ownership and modes, Reload again.
	Finish bool
	Fix    bool
	Reload bool
}

// view is a certificate as plans, reports and policies see it.
type view struct {
	Domains  []string `json:"domains"`
	KeyType  string   `json:"keyType,omitempty"`
	NotAfter string   `json:"notAfter,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
}

func sortedDomains(ds []string) []string {
	out := slices.Clone(ds)
	sort.Strings(out)
	return out
}

// Diff implements steps.Backend. It obtains a certificate that is missing,
// whose names or key type changed, that comes from another CA directory,
// or that is inside its renewal window (renewBefore, else the CA's ARI
// window, else 30 days before expiry) — unless an earlier order failed and
// its backoff has not passed. A valid certificate is never re-issued.
func (b *Backend) Diff(t steps.Target, have steps.Live) (steps.Change, error) {
	c := steps.Change{ID: t.ID, Target: t, Have: have, Action: steps.NoOp}
	l, _ := have.(*Live)
	if l != nil && l.Exists {
		c.Before = view{Domains: l.Domains, KeyType: l.KeyType, NotAfter: l.NotAfter.UTC().Format(time.RFC3339), Issuer: l.Issuer}
	}
	s, ok := specOf(t)
	if !ok {
		return c, nil
	}
	dir, err := deployDir(b.cfg.certRoot, s.Deploy.Dir, t.ID.Name)
	if err != nil {
		return c, err
	}
	w := &work{Dir: dir}
	c.Detail = w
	if t.Want == nil {
		if l != nil {
			c.Action = steps.Delete
			c.Fields = steps.DiffFields(c.Before, nil)
			c.Notes = []string{"deletes the files in " + dir + " (the certificate is not revoked)"}
		}
		return c, nil
	}
	v, err := s.check(b.cfg)
	if err != nil {
		return c, err
	}
	want := view{Domains: sortedDomains(v.domains), KeyType: v.keyType}
	c.After = want
	now := b.now()

	var reasons []string
	if l == nil || !l.Exists {
		reasons = append(reasons, "no certificate in "+dir)
	} else {
		if !slices.Equal(l.Domains, want.Domains) {
			reasons = append(reasons, fmt.Sprintf("names change from %s to %s", strings.Join(l.Domains, ", "), strings.Join(want.Domains, ", ")))
		}
		switch {
		case l.KeyType == "":
			reasons = append(reasons, "the private key is missing or unreadable")
		case l.KeyType != want.KeyType:
			reasons = append(reasons, fmt.Sprintf("key type changes from %s to %s", l.KeyType, want.KeyType))
		}
		if l.Directory != "" && l.Directory != b.cfg.directory {
			reasons = append(reasons, "issued through "+l.Directory+", now configured: "+b.cfg.directory)
		}
		changed := len(reasons) > 0
		renewAt, why, clamped := b.renewAt(l, v)
		if clamped != "" {
			c.Notes = append(c.Notes, clamped)
			b.warn("%s: %s", t.ID, clamped)
		}
		switch {
		case !now.Before(l.NotAfter):
			reasons = append(reasons, "expired at "+l.NotAfter.UTC().Format(time.RFC3339))
		case !now.Before(renewAt):
			reasons = append(reasons, fmt.Sprintf("inside the renewal window (%s): expires %s", why, l.NotAfter.UTC().Format(time.RFC3339)))
		}
		w.Renewal = !changed && len(reasons) > 0
		if l.ARIError != "" && s.RenewBefore == "" && len(reasons) == 0 {
			c.Notes = append(c.Notes, "ARI window unknown ("+l.ARIError+"); renewing 30 days before expiry")
		}
	}

	if len(reasons) > 0 {
		if u := l.undeployed(); u.usable(want, v, b.cfg.directory, now) {
			w.Deploy = u
			c.Notes = append(c.Notes, reasons...)
			c.Notes = append(c.Notes, fmt.Sprintf("deploys the certificate issued at %s (serial %s) whose deploy did not succeed; no new order",
				u.IssuedAt.UTC().Format(time.RFC3339), u.Serial))
			c.Fields = steps.DiffFields(view{Domains: beforeDomains(l), KeyType: beforeKeyType(l)}, view{Domains: want.Domains, KeyType: want.KeyType})
			c.Action = steps.Create
			if l.Exists {
				c.Action = steps.Update
			}
			return c, nil
		}
		if f := l.failure(); f != nil && slices.Equal(sortedDomains(f.Domains), want.Domains) && f.KeyType == want.KeyType {
			next := f.Time.Add(b.cfg.backoffAfter(f.Attempts))
			if now.Before(next) {
				c.Notes = append(c.Notes, fmt.Sprintf("not ordering: the last order failed at %s (attempt %d): %s; next attempt after %s",
					f.Time.UTC().Format(time.RFC3339), f.Attempts, f.Error, next.UTC().Format(time.RFC3339)))
				return c, nil
			}
		}
		w.Issue = true
		c.Notes = append(c.Notes, reasons...)
		c.Fields = steps.DiffFields(view{Domains: beforeDomains(l), KeyType: beforeKeyType(l)}, view{Domains: want.Domains, KeyType: want.KeyType})
		if l != nil && l.Exists {
			c.Action = steps.Update
			if l.Directory == b.cfg.directory && l.certID != "" && overlaps(l.Domains, want.Domains) {
				w.Replaces = l.certID
			}
		} else {
			c.Action = steps.Create
		}
		return c, nil
	}

	// The certificate is valid: at most files need attention.
	if l.Pending {
		w.Finish = true
		c.Notes = append(c.Notes, "finishes an interrupted deploy")
	}
	if fs := b.fileChanges(l, s, v); len(fs) > 0 {
		w.Fix = true
		c.Fields = append(c.Fields, fs...)
	}
	if l.ReloadPending && s.Deploy.Reload != nil {
		w.Reload = true
		c.Notes = append(c.Notes, "runs the reload command again (it failed after the last deploy)")
	}
	if w.Finish || w.Fix || w.Reload {
		c.Action = steps.Update
	}
	return c, nil
}

// Renewal reports whether a planned change only renews a certificate that
// time made due: expired or inside its renewal window (renewBefore, the
// CA's ARI window, RFC 9773 §4.2, else 30 days before expiry), with the
// names, key type and CA it was deployed with. `runner serve` applies such
// changes without a push.
func (b *Backend) Renewal(c steps.Change) bool {
	w, ok := c.Detail.(*work)
	return ok && c.Action == steps.Update && w.Issue && w.Renewal
}

func (l *Live) failure() *Failure {
	if l == nil {
		return nil
	}
	return l.Failure
}

func (l *Live) undeployed() *Undeployed {
	if l == nil {
		return nil
	}
	return l.Undeployed
}

func beforeDomains(l *Live) []string {
	if l == nil || !l.Exists {
		return nil
	}
	return l.Domains
}

func beforeKeyType(l *Live) string {
	if l == nil || !l.Exists {
		return ""
	}
	return l.KeyType
}

func overlaps(a, b []string) bool {
	return slices.ContainsFunc(a, func(x string) bool { return slices.Contains(b, x) })
}

// renewAt is when a certificate enters its renewal window, and why.
// clamped, when not empty, says that renewBefore was not shorter than the
// certificate's lifetime and a third of the lifetime was used instead.
//
// A window as long as the certificate would make every pass order a new
// certificate (and spend the CA's rate limits: Let's Encrypt allows 5
// certificates for the same names per 7 days,
// letsencrypt.org/docs/rate-limits). It is clamped rather than refused
// because the lifetime is the CA's choice, not the repo's: a CA that
// shortens its certificates (Let's Encrypt announced 45-day ones) must
// not stop every renewal of a repo that was right yesterday.
func (b *Backend) renewAt(l *Live, v validated) (at time.Time, why, clamped string) {
	switch {
	case v.renewBefore > 0:
		before, clamped := renewBeforeWithin(v.renewBefore, l.NotBefore, l.NotAfter)
		return l.NotAfter.Add(-before), "renewBefore " + fmtDays(before), clamped
	case l.ARI != nil:
		return l.ARI.Start, "the CA's ARI window from " + l.ARI.Start.UTC().Format(time.RFC3339), ""
	default:
		return l.NotAfter.Add(-defaultRenewBefore), "30 days before expiry", ""
	}
}

// renewBeforeWithin is renewBefore, or a third of the lifetime from
// notBefore to notAfter when renewBefore is not shorter than it (clamped
// then says so and what to set). A zero notBefore clamps nothing.
func renewBeforeWithin(renewBefore time.Duration, notBefore, notAfter time.Time) (before time.Duration, clamped string) {
	life := notAfter.Sub(notBefore)
	if notBefore.IsZero() || life <= 0 || renewBefore < life {
		return renewBefore, ""
	}
	before = life / 3
	return before, fmt.Sprintf("renewBefore %s is not shorter than the certificate's lifetime (%s, from its notBefore to notAfter): renewing with a third of it left (%s) instead; set renewBefore below %s",
		fmtDays(renewBefore), fmtDays(life), fmtDays(before), fmtDays(life))
}

// fmtDays renders a duration in days when it is whole days ("90d"), else
// as Go does ("36h0m0s").
func fmtDays(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// warn logs a warning of the run (steps.WarnLogger), if one is set.
func (b *Backend) warn(format string, args ...any) {
	if b.warnf != nil {
		b.warnf(format, args...)
	}
}

// SetWarnf implements steps.WarnLogger.
func (b *Backend) SetWarnf(warnf func(format string, args ...any)) { b.warnf = warnf }

// fileChanges compares observed modes and owners with the spec.
func (b *Backend) fileChanges(l *Live, s Spec, v validated) []steps.FieldChange {
	var out []steps.FieldChange
	own := ownership{uid: -1, gid: -1}
	if l.own != nil {
		own = *l.own
	}
	for _, name := range deployFiles {
		m, ok := l.Files[name]
		if !ok {
			continue
		}
		wantMode := v.mode
		if name == keyFile {
			wantMode = v.keyMode
		}
		if m.Mode != wantMode {
			out = append(out, steps.FieldChange{Path: "files." + name + ".mode", Before: fmt.Sprintf("%04o", m.Mode), After: fmt.Sprintf("%04o", wantMode)})
		}
		if own.uid >= 0 && m.UID != own.uid {
			out = append(out, steps.FieldChange{Path: "files." + name + ".uid", Before: m.UID, After: own.uid})
		}
		if own.gid >= 0 && m.GID != own.gid {
			out = append(out, steps.FieldChange{Path: "files." + name + ".gid", Before: m.GID, After: own.gid})
		}
	}
	return out
}

// lookupOwnership resolves deploy.owner and deploy.group (names or numbers).
func lookupOwnership(d Deploy) (ownership, error) {
	uid, err := numericID("deploy.owner", "uid", d.Owner, userID)
	if err != nil {
		return ownership{uid: -1, gid: -1}, err
	}
	gid, err := numericID("deploy.group", "gid", d.Group, groupID)
	return ownership{uid: uid, gid: gid}, err
}

// userID is the uid of the user name, as the system gives it.
func userID(name string) (string, error) {
	u, err := osuser.Lookup(name)
	if err != nil {
		return "", err
	}
	return u.Uid, nil
}

// groupID is the gid of the group name, as the system gives it.
func groupID(name string) (string, error) {
	g, err := osuser.LookupGroup(name)
	if err != nil {
		return "", err
	}
	return g.Gid, nil
}

// numericID is v as a number, or the number lookup gives for the name v
// (what field names; what says uid or gid); -1 when v is empty.
func numericID(field, what, v string, lookup func(string) (string, error)) (int, error) {
	if v == "" {
		return -1, nil
	}
	if id, err := strconv.Atoi(v); err == nil {
		return id, nil
	}
	s, err := lookup(v)
	if err != nil {
		return -1, fmt.Errorf("%s %q: %w", field, v, err)
	}
	id, err := strconv.Atoi(s)
	if err != nil {
		return -1, fmt.Errorf("%s %q: %s %q: %w", field, v, what, s, err)
	}
	return id, nil
}

// modes is the mode of each deployed file.
func modes(v validated) map[string]os.FileMode {
	return map[string]os.FileMode{
		certFile: os.FileMode(v.mode), chainFile: os.FileMode(v.mode), fullchainFile: os.FileMode(v.mode),
		keyFile: os.FileMode(v.keyMode),
	}
}
