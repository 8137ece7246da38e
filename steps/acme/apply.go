package acme

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/dns01"

	"github.com/gitops-runner/gitops-runner/steps"
)

// State is what the inventory keeps of an applied certificate.
type State struct {
	Serial   string    `json:"serial,omitempty"`
	NotAfter time.Time `json:"notAfter,omitzero"`
	CertURL  string    `json:"certURL,omitempty"`
}

// Apply implements steps.Backend.
func (b *Backend) Apply(ctx context.Context, c steps.Change, p steps.Progress) (json.RawMessage, error) {
	if b.unconfigured {
		return nil, ErrNotConfigured
	}
	w, ok := c.Detail.(*work)
	if !ok {
		return nil, fmt.Errorf("%s: change has no acme plan (was it computed by this backend's Diff?)", c.ID)
	}
	if c.Action == steps.Delete {
		if err := removeDeploy(w.Dir); err != nil {
			return nil, fmt.Errorf("delete %s: %w", c.ID, err)
		}
		if err := b.writeRecord(c.ID.Name, record{}); err != nil {
			return nil, fmt.Errorf("delete %s: %w", c.ID, err)
		}
		if err := b.dropIssued(c.ID.Name); err != nil {
			return nil, fmt.Errorf("delete %s: %w", c.ID, err)
		}
		p.Printf("deleted the files in %s", w.Dir)
		return nil, nil
	}
	s, ok := c.Target.Want.(Spec)
	if !ok {
		return nil, fmt.Errorf("%s: no desired spec", c.ID)
	}
	v, err := s.check(b.cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(b.cfg.certRoot, 0o755); err != nil { //nolint:gosec // like /etc/letsencrypt; keys have their own modes
		return nil, fmt.Errorf("certificate root: %w", err)
	}
	if err := b.checkRealDir(w.Dir); err != nil {
		return nil, err
	}
	own, err := lookupOwnership(s.Deploy)
	if err != nil {
		return nil, err
	}
	rec, err := b.readRecord(c.ID.Name)
	if err != nil {
		return nil, err
	}
	var st *issued
	reload := w.Reload
	if w.Issue || w.Deploy != nil || w.Fix {
		// Before any order: a deploy that cannot succeed must not cost
		// one on every run.
		if err := preflight(s, w.Dir, own); err != nil {
			return nil, fmt.Errorf("%s: %w (nothing was ordered or changed)", c.ID, err)
		}
	}
	switch {
	case w.Issue || w.Deploy != nil:
		kept := true
		if w.Issue {
			st, err = b.issue(ctx, c.ID, v, w, &rec, p)
			if err != nil {
				return nil, err
			}
			if err := b.keepIssued(c.ID.Name, st, v); err != nil {
				p.Printf("could not keep the issued certificate in %s until it is deployed: %v", b.issuedPath(c.ID.Name), err)
				kept = false
			}
		} else {
			if st, err = b.loadIssued(c.ID.Name, w.Deploy); err != nil {
				return nil, fmt.Errorf("%s: %w", c.ID, err)
			}
			p.Printf("deploying the certificate issued at %s (serial %s); no new order", w.Deploy.IssuedAt.UTC().Format(time.RFC3339), st.Serial)
		}
		if err := writeDeploy(w.Dir, st.files(v), own, b.deployHook); err != nil {
			next := "the next run orders again"
			if kept {
				next = "the issued certificate is kept in " + b.issuedPath(c.ID.Name) + ", so the next run deploys it without a new order"
			}
			return nil, fmt.Errorf("%s: deploy to %s: %w (the previous files are unchanged or the next run finishes the deploy; %s)", c.ID, w.Dir, err, next)
		}
		p.Printf("deployed to %s: serial %s, valid until %s", w.Dir, st.Serial, st.NotAfter.UTC().Format(time.RFC3339))
		rec = record{Directory: b.cfg.directory, CertURL: st.CertURL}
		if err := b.writeRecord(c.ID.Name, rec); err != nil {
			return nil, err
		}
		if err := b.dropIssued(c.ID.Name); err != nil {
			p.Printf("deployed, but removing the kept copy in %s failed: %v", b.issuedPath(c.ID.Name), err)
		}
		reload = true
	default:
		if w.Finish {
			if err := finishDeploy(w.Dir); err != nil {
				return nil, fmt.Errorf("%s: finish the interrupted deploy in %s: %w", c.ID, w.Dir, err)
			}
			p.Printf("finished the interrupted deploy in %s", w.Dir)
			reload = true
			if rec.Directory == "" {
				// The deploy was interrupted before its record was written.
				rec.Directory = b.cfg.directory
				if err := b.writeRecord(c.ID.Name, rec); err != nil {
					return nil, err
				}
			}
		}
		if w.Fix {
			if err := fixOwnership(w.Dir, modes(v), own); err != nil {
				return nil, fmt.Errorf("%s: set owner and modes in %s: %w", c.ID, w.Dir, err)
			}
			p.Printf("set owner and modes in %s", w.Dir)
		}
	}
	if reload && s.Deploy.Reload != nil {
		rerr := b.reload(ctx, s.Deploy.Reload, v.reloadWait, p)
		rec.ReloadPending = rerr != nil
		if err := b.writeRecord(c.ID.Name, rec); err != nil {
			return nil, err
		}
		if rerr != nil {
			return nil, fmt.Errorf("%s: the files in %s are in place, but the reload command failed: %w (the next run runs it again)", c.ID, w.Dir, rerr)
		}
	}
	if st == nil {
		return nil, nil // the inventory keeps the previous state
	}
	return json.Marshal(State{Serial: st.Serial, NotAfter: st.NotAfter, CertURL: st.CertURL})
}

// checkRealDir refuses a deploy directory that leaves the certificate root
// through a symlink (Decode checked the path lexically).
func (b *Backend) checkRealDir(dir string) error {
	root, err := filepath.EvalSymlinks(b.cfg.certRoot)
	if err != nil {
		return fmt.Errorf("certificate root %s: %w", b.cfg.certRoot, err)
	}
	// Resolve the deepest existing ancestor of dir.
	p := dir
	for {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			if _, err := deployDir(root, real, "x"); err != nil && real != root {
				return fmt.Errorf("deploy directory %s resolves to %s, outside the certificate root %s", dir, real, root)
			}
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}

// issued is a certificate obtained from the CA.
type issued struct {
	State
	notBefore                   time.Time
	key, cert, chain, fullchain []byte
}

func (st *issued) files(v validated) []file {
	return []file{
		{name: certFile, data: st.cert, mode: os.FileMode(v.mode)},
		{name: chainFile, data: st.chain, mode: os.FileMode(v.mode)},
		{name: fullchainFile, data: st.fullchain, mode: os.FileMode(v.mode)},
		{name: keyFile, data: st.key, mode: os.FileMode(v.keyMode)},
	}
}

// issue obtains a certificate. A failed order is recorded in the store
// (time, error, attempt) so that the next runs back off.
func (b *Backend) issue(ctx context.Context, id steps.ID, v validated, w *work, rec *record, p steps.Progress) (*issued, error) {
	u, err := b.account(true)
	if err != nil {
		return nil, steps.Transient(fmt.Errorf("%s: %w", id, err))
	}
	cl, err := b.newClient(u)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	prov := &provider{ctx: ctx, solver: b.solver, progress: p, timeout: b.cfg.propTimeout, interval: b.cfg.pollEvery}
	if err := cl.Challenge.SetDNS01Provider(prov, dns01.WrapPreCheck(b.precheck(ctx))); err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	key, err := certcrypto.GeneratePrivateKey(keyTypes[v.keyType])
	if err != nil {
		return nil, fmt.Errorf("%s: generate %s key: %w", id, v.keyType, err)
	}
	req := certificate.ObtainRequest{Domains: v.domains, PrivateKey: key, Bundle: true, ReplacesCertID: w.Replaces}
	p.Printf("ordering a certificate for %s (%s key)%s", strings.Join(v.domains, ", "), v.keyType, replacing(w.Replaces))
	res, err := cl.Certificate.Obtain(req)
	if req.ReplacesCertID != "" && b.refusedNewOrder(ctx, err) {
		// The CA would not take an order that replaces the old
		// certificate: it never issued it (the directory changed, or a
		// test CA was restarted), it already has a replacement order, or
		// it cannot find the order behind the old serial (Pebble v2.10.1
		// looks the serial up without DER's leading zero byte). Replacing
		// is only a hint for the CA's rate limits (RFC 9773 §5: the client
		// "MAY" name it), so order once more without it.
		p.Printf("the CA refused an order replacing the old certificate (%s); ordering without ARI replaces", b.problemText(err))
		req.ReplacesCertID = ""
		res, err = cl.Certificate.Obtain(req)
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, b.recordFailure(id, v, rec, err)
	}
	st, err := parseIssued(res)
	if err != nil {
		return nil, b.recordFailure(id, v, rec, err)
	}
	return st, nil
}

func replacing(certID string) string {
	if certID == "" {
		return ""
	}
	return ", replacing ARI cert ID " + certID
}

// recordFailure stores a failed order and returns the error to report.
func (b *Backend) recordFailure(id steps.ID, v validated, rec *record, cause error) error {
	msg := strings.TrimSpace(b.red.Redact(cause.Error()))
	f := &Failure{Time: b.now().UTC(), Error: msg, Attempts: 1, Domains: v.domains, KeyType: v.keyType}
	if old := rec.Failure; old != nil && slices.Equal(sortedDomains(old.Domains), sortedDomains(v.domains)) && old.KeyType == v.keyType {
		f.Attempts = old.Attempts + 1
	}
	rec.Failure = f
	next := f.Time.Add(b.cfg.backoffAfter(f.Attempts))
	if err := b.writeRecord(id.Name, *rec); err != nil {
		return fmt.Errorf("%s: obtain certificate for %s: %s; recording the failure also failed: %w", id, strings.Join(v.domains, ", "), msg, err)
	}
	return fmt.Errorf("%s: obtain certificate for %s: %s (attempt %d; no file was changed; the next order is not placed before %s)",
		id, strings.Join(v.domains, ", "), msg, f.Attempts, next.Format(time.RFC3339))
}

// parseIssued splits lego's resource into the certbot files.
func parseIssued(res *certificate.Resource) (*issued, error) {
	leafPEM, _ := splitPEM(res.Certificate)
	leaf, err := certcrypto.ParsePEMCertificate(leafPEM)
	if err != nil {
		return nil, fmt.Errorf("the CA returned an unreadable certificate: %w", err)
	}
	chain := res.IssuerCertificate
	fullchain := res.Certificate
	if !bytes.Equal(bytes.TrimSpace(fullchain), bytes.TrimSpace(leafPEM)) && len(chain) == 0 {
		_, chain = splitPEM(fullchain)
	}
	st := &issued{State: State{Serial: leaf.SerialNumber.Text(16), NotAfter: leaf.NotAfter, CertURL: res.CertURL}, notBefore: leaf.NotBefore,
		key: res.PrivateKey, cert: leafPEM, chain: chain, fullchain: fullchain}
	return st, nil
}

// reload runs the reload command with a timeout; its output becomes a
// progress line (and so part of the status report).
func (b *Backend) reload(ctx context.Context, r *Reload, timeout time.Duration, p steps.Progress) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.Command[0], r.Command[1:]...) //nolint:gosec // allowed by backends.acme.reloadAllowed
	// A command that forks a child holding the output open must not hang
	// the Apply past the timeout.
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := b.red.Redact(strings.TrimSpace(out.String()))
	if len(text) > 2000 {
		text = text[:2000] + "…"
	}
	name := strings.Join(r.Command, " ")
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		p.Printf("reload %q killed after %s: %s", name, timeout, text)
		return fmt.Errorf("reload %q did not finish within %s (killed)", name, timeout)
	}
	if err != nil {
		p.Printf("reload %q failed: %s", name, text)
		return fmt.Errorf("reload %q: %w: %s", name, err, text)
	}
	p.Printf("reload %q: ok %s", name, text)
	return nil
}
