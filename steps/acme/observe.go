package acme

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/go-acme/lego/v4/certificate"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Window is an ARI suggested renewal window.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Live is what Observe found of one certificate.
type Live struct {
	// Exists: the deploy directory holds a certificate. A Live that does
	// not exist carries only a failure record or an undeployed certificate.
	Exists    bool      `json:"exists"`
	Domains   []string  `json:"domains,omitempty"`
	KeyType   string    `json:"keyType,omitempty"`
	NotBefore time.Time `json:"notBefore,omitzero"`
	NotAfter  time.Time `json:"notAfter,omitzero"`
	Issuer    string    `json:"issuer,omitempty"`
	Serial    string    `json:"serial,omitempty"`
	// ARI is the CA's suggested renewal window, when it offers one.
	ARI *Window `json:"ari,omitempty"`
	// Directory is the ACME directory that issued the certificate (from the
	// store; empty for certificates the runner did not obtain).
	Directory string `json:"directory,omitempty"`
	// Failure is the last failed order, ReloadPending a reload that failed.
	Failure       *Failure `json:"failure,omitempty"`
	ReloadPending bool     `json:"reloadPending,omitempty"`
	// Pending: a deploy was interrupted after its commit point.
	Pending bool                `json:"pending,omitempty"`
	Files   map[string]fileMeta `json:"files,omitempty"`

	// ARIError says why the ARI window is unknown (the default applies).
	ARIError string `json:"ariError,omitempty"`
	// Undeployed is a certificate the CA issued whose deploy has not
	// succeeded; the next deploy uses it instead of ordering again.
	Undeployed *Undeployed `json:"undeployed,omitempty"`

	certID string     // ARI CertID of the leaf, for ReplacesCertID
	own    *ownership // the wanted owner and group, resolved by Observe
}

type ariQuery struct {
	live *Live
	leaf *x509.Certificate
}

// observeARI fills in ARI windows. A CA without ARI, or one that cannot be
// reached, leaves the window unknown (the 30-day default applies): a
// certificate that is still valid must not fail the run's observation.
func (b *Backend) observeARI(ctx context.Context, qs []ariQuery) {
	fail := func(err error) {
		for _, q := range qs {
			q.live.ARIError = b.red.Redact(err.Error())
		}
	}
	u, err := b.account(false)
	if err != nil {
		fail(err)
		return
	}
	cl, err := b.newClient(u)
	if err != nil {
		fail(err)
		return
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(b.cfg.concurrency)
	for _, q := range qs {
		g.Go(func() error {
			if ctx.Err() != nil {
				q.live.ARIError = ctx.Err().Error()
				return nil
			}
			info, err := cl.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: q.leaf})
			if err != nil {
				q.live.ARIError = b.red.Redact(err.Error())
				return nil
			}
			if info.SuggestedWindow.Start.IsZero() {
				// A CA that does not know the certificate (another CA
				// issued it) may answer with no window at all.
				q.live.ARIError = "the CA returned no renewal window for this certificate"
				return nil
			}
			q.live.ARI = &Window{Start: info.SuggestedWindow.Start, End: info.SuggestedWindow.End}
			return nil
		})
	}
	_ = g.Wait() // the goroutines record their errors; none is returned
}

// certNames lists a certificate's DNS names, sorted.
func certNames(c *x509.Certificate) []string {
	names := slices.Clone(c.DNSNames)
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = []string{c.Subject.CommonName}
	}
	for i := range names {
		names[i] = strings.ToLower(names[i])
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// Observe implements steps.Backend: it reads the certificate store, and
// asks the CA for ARI windows of the certificates whose renewal follows it
// (bounded concurrency, one GET each; no account needed).
func (b *Backend) Observe(ctx context.Context, ts []steps.Target) (map[steps.ID]steps.Live, error) {
	if b.unconfigured {
		return nil, ErrNotConfigured
	}
	out := make(map[steps.ID]steps.Live, len(ts))
	var needARI []ariQuery
	for _, t := range ts {
		s, ok := specOf(t)
		if !ok {
			continue
		}
		dir, err := deployDir(b.cfg.certRoot, s.Deploy.Dir, t.ID.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.ID, err)
		}
		d, err := readDeployed(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: read %s: %w", t.ID, dir, err)
		}
		rec, err := b.readRecord(t.ID.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.ID, err)
		}
		// A failure record or an undeployed certificate alone counts only for a certificate the runner
		// owns (a failed create is in the inventory); for any other it
		// would read as "already exists" to the pipeline.
		var u *Undeployed
		if t.Want != nil {
			if u, err = b.readUndeployed(t.ID.Name); err != nil {
				return nil, fmt.Errorf("%s: %w", t.ID, err)
			}
		}
		if d == nil && ((rec.Failure == nil && u == nil) || !t.Owned()) {
			continue
		}
		l := &Live{Failure: rec.Failure, Undeployed: u}
		if d != nil {
			l.Exists = true
			l.Domains = certNames(d.leaf)
			l.KeyType = d.keyType
			l.NotBefore, l.NotAfter = d.leaf.NotBefore, d.leaf.NotAfter
			l.Issuer = d.leaf.Issuer.String()
			l.Serial = d.leaf.SerialNumber.Text(16)
			l.Directory, l.ReloadPending = rec.Directory, rec.ReloadPending
			l.Pending, l.Files = d.pending, d.files
			if t.Want != nil {
				// Resolved here so that Diff needs no user database; a bad
				// name is reported by Apply.
				if own, err := lookupOwnership(s.Deploy); err == nil {
					l.own = &own
				}
			}
			if id, err := certificate.MakeARICertID(d.leaf); err == nil {
				l.certID = id
			}
			// ARI only for certificates from the configured CA whose
			// renewal is not pinned by renewBefore.
			if s.RenewBefore == "" && rec.Directory == b.cfg.directory && t.Want != nil {
				needARI = append(needARI, ariQuery{l, d.leaf})
			}
		}
		out[t.ID] = l
	}
	if len(needARI) > 0 {
		b.observeARI(ctx, needARI)
	}
	return out, nil
}
