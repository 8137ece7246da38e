package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/lego"
	legolog "github.com/go-acme/lego/v4/log"
	"github.com/go-acme/lego/v4/registration"
	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/gitops-runner/gitops-runner/steps"
)

// DNSSolver publishes and removes DNS-01 challenge records. The Route 53
// backend's provider satisfies it; fqdn is "_acme-challenge.<domain>." (or
// where a CNAME there points), value the TXT value without quotes. Present
// must add the value next to others at the same name: a certificate for
// example.com and *.example.com needs two values at once.
type DNSSolver interface {
	Present(ctx context.Context, fqdn, value string) error
	CleanUp(ctx context.Context, fqdn, value string) error
}

// user is an ACME account as lego sees it.
type user struct {
	email string
	key   crypto.PrivateKey
	reg   *registration.Resource
}

func (u *user) GetEmail() string                        { return u.email }
func (u *user) GetRegistration() *registration.Resource { return u.reg }
func (u *user) GetPrivateKey() crypto.PrivateKey        { return u.key }

// accountFile is what the store keeps of an account besides its key.
type accountFile struct {
	Directory    string                 `json:"directory"`
	Email        string                 `json:"email,omitempty"`
	Registration *registration.Resource `json:"registration,omitempty"`
}

// accountDir is the store directory of the account for the configured
// directory URL: one account per CA directory.
func (b *Backend) accountDir() string {
	h := sha256.Sum256([]byte(b.cfg.directory))
	return filepath.Join(b.cfg.stateDir, "accounts", hex.EncodeToString(h[:8]))
}

// account loads the account (creating and storing its key on first use).
// With register, an account not yet registered is registered with the CA
// (once per directory URL; the registration is kept in the store). It
// returns a snapshot the caller may hand to lego.
func (b *Backend) account(register bool) (*user, error) {
	b.acctMu.Lock()
	defer b.acctMu.Unlock()
	if b.acct == nil {
		u, err := b.loadAccount()
		if err != nil {
			return nil, err
		}
		b.acct = u
	}
	if register && b.acct.reg == nil {
		cl, err := b.newClient(b.acct)
		if err != nil {
			return nil, err
		}
		var reg *registration.Resource
		if b.cfg.eabKID != "" {
			reg, err = cl.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
				TermsOfServiceAgreed: true, Kid: b.cfg.eabKID, HmacEncoded: b.cfg.eabHMAC,
			})
		} else {
			reg, err = cl.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
		}
		if err != nil {
			return nil, fmt.Errorf("register ACME account at %s: %s", b.cfg.directory, b.red.Redact(err.Error()))
		}
		af := accountFile{Directory: b.cfg.directory, Email: b.cfg.email, Registration: reg}
		data, err := json.MarshalIndent(af, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(b.accountDir(), "account.json"), data, 0o600); err != nil {
			return nil, fmt.Errorf("store ACME account: %w", err)
		}
		b.acct.reg = reg
	}
	u := *b.acct
	return &u, nil
}

func (b *Backend) loadAccount() (*user, error) {
	dir := b.accountDir()
	keyPath := filepath.Join(dir, "account.key")
	var key crypto.PrivateKey
	pemKey, err := os.ReadFile(keyPath)
	switch {
	case err == nil:
		if key, err = certcrypto.ParsePEMPrivateKey(pemKey); err != nil {
			return nil, fmt.Errorf("account key %s: %w", keyPath, err)
		}
	case errors.Is(err, os.ErrNotExist):
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate account key: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("account directory: %w", err)
		}
		if err := writeFileAtomic(keyPath, certcrypto.PEMEncode(k), 0o600); err != nil {
			return nil, fmt.Errorf("store account key: %w", err)
		}
		key = k
	default:
		return nil, fmt.Errorf("read account key: %w", err)
	}
	var af accountFile
	if _, err := readJSON(filepath.Join(dir, "account.json"), &af); err != nil {
		return nil, err
	}
	return &user{email: b.cfg.email, key: key, reg: af.Registration}, nil
}

// transport is the HTTP transport to the CA: the system roots, or caFile's.
func (b *Backend) transport() (http.RoundTripper, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if b.cfg.caFile != "" {
		pemCA, err := os.ReadFile(b.cfg.caFile)
		if err != nil {
			return nil, fmt.Errorf("backends.acme.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCA) {
			return nil, fmt.Errorf("backends.acme.caFile %s: no PEM certificates", b.cfg.caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return tr, nil
}

// newClient builds a lego client for the account. lego fetches the
// directory here (one GET).
func (b *Backend) newClient(u *user) (*lego.Client, error) {
	cfg := lego.NewConfig(u)
	cfg.CADirURL = b.cfg.directory
	// A fresh client each time: lego wraps the client's Transport in place.
	cfg.HTTPClient = &http.Client{Transport: b.rt, Timeout: 2 * time.Minute}
	cfg.UserAgent = "gitops-runner"
	cl, err := lego.NewClient(cfg)
	if err != nil {
		return nil, steps.Transient(fmt.Errorf("ACME directory %s: %w", b.cfg.directory, err))
	}
	return cl, nil
}

// refusedNewOrder reports whether err is the CA's refusal of the new-order
// request itself (a problem document answering a POST to the directory's
// newOrder URL, RFC 8555 §7.4), other than a rate limit: a refused order
// solved no challenge, so ordering again costs one request. It reads the
// directory (one GET) only when err is such a problem.
func (b *Backend) refusedNewOrder(ctx context.Context, err error) bool {
	var problem *acme.ProblemDetails
	if !errors.As(err, &problem) || problem.Method != http.MethodPost || problem.Type == "urn:ietf:params:acme:error:rateLimited" {
		return false
	}
	dir, _, derr := b.readDirectory(ctx)
	if derr != nil {
		return false
	}
	newOrder, _ := dir["newOrder"].(string)
	return newOrder != "" && problem.URL == newOrder
}

// problemText is the type and detail of the CA's problem in err, redacted.
func (b *Backend) problemText(err error) string {
	var problem *acme.ProblemDetails
	if !errors.As(err, &problem) {
		return b.red.Redact(err.Error())
	}
	return b.red.Redact(strings.TrimPrefix(problem.Type, "urn:ietf:params:acme:error:") + ": " + problem.Detail)
}

// provider adapts a DNSSolver to lego's challenge.Provider for one Apply:
// it carries the Apply's context and progress.
type provider struct {
	ctx      context.Context
	solver   DNSSolver
	progress steps.Progress
	timeout  time.Duration
	interval time.Duration
}

// Present implements challenge.Provider.
func (p *provider) Present(domain, _, keyAuth string) error {
	info := dns01.GetChallengeInfo(domain, keyAuth)
	p.progress.Printf("DNS-01 %s: TXT %s", domain, info.EffectiveFQDN)
	if err := p.solver.Present(p.ctx, info.EffectiveFQDN, info.Value); err != nil {
		return fmt.Errorf("DNS-01 for %s: publish TXT %s: %w", domain, info.EffectiveFQDN, err)
	}
	return nil
}

// CleanUp implements challenge.Provider.
func (p *provider) CleanUp(domain, _, keyAuth string) error {
	info := dns01.GetChallengeInfo(domain, keyAuth)
	// Clean up even when the Apply was cancelled: a stale TXT record is
	// litter in the zone.
	ctx := context.WithoutCancel(p.ctx)
	if err := p.solver.CleanUp(ctx, info.EffectiveFQDN, info.Value); err != nil {
		return fmt.Errorf("DNS-01 for %s: remove TXT %s: %w", domain, info.EffectiveFQDN, err)
	}
	return nil
}

// Timeout implements challenge.ProviderTimeout: how long lego waits for the
// record to propagate, and how often it checks.
func (p *provider) Timeout() (time.Duration, time.Duration) { return p.timeout, p.interval }

// precheck returns lego's propagation check: with resolvers configured, the
// TXT record must be visible at every one of them (docs/api-facts.md §5: lego's
// own resolver options mutate package globals shared by all clients, so we
// query the resolvers ourselves); otherwise lego's default check.
func (b *Backend) precheck(ctx context.Context) dns01.WrapPreCheckFunc {
	return func(domain, fqdn, value string, check dns01.PreCheckFunc) (bool, error) {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		if len(b.cfg.resolvers) == 0 {
			return check(fqdn, value)
		}
		for _, r := range b.cfg.resolvers {
			ok, seen, err := txtVisible(ctx, r, fqdn, value)
			if err != nil {
				return false, fmt.Errorf("DNS-01 for %s: query TXT %s at %s: %w", domain, fqdn, r, err)
			}
			if !ok {
				return false, fmt.Errorf("DNS-01 for %s: resolver %s does not show the challenge value in TXT %s (%d other values); is the record published in the right zone?", domain, r, fqdn, seen)
			}
		}
		return true, nil
	}
}

// txtVisible asks one resolver for the TXT records at fqdn.
func txtVisible(ctx context.Context, server, fqdn, value string) (found bool, others int, err error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(fqdn), dns.TypeTXT)
	m.SetEdns0(4096, false)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return false, 0, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return false, 0, fmt.Errorf("answer %s", dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			if strings.Join(t.Txt, "") == value {
				return true, others, nil
			}
			others++
		}
	}
	return false, others, nil
}

func splitHostPort(s string) (string, string, error) { return net.SplitHostPort(s) }

// RouteLegoLog sends lego's own log lines to l, so that they follow the
// runner's --log-level and --log-format like every other line. lego logs
// through one process-wide github.com/go-acme/lego/v4/log.Logger, a
// StdLogger (Print*, Fatal*) that defaults to the standard library's
// logger on stderr; its Infof and Warnf prefix the line with "[INFO] " and
// "[WARN] " (lego v4.28.1 log/logger.go). Those lines go to l at info and
// warn level with the prefix removed and component=lego; lines without a
// prefix at info. Fatal* log at fatal level, which exits as lego expects.
func RouteLegoLog(l logrus.FieldLogger) {
	legolog.Logger = legoLogger{l.WithField("component", "lego")}
}

// legoLogger adapts a logrus logger to lego's log.StdLogger.
type legoLogger struct{ l logrus.FieldLogger }

func (g legoLogger) Print(args ...any)                 { g.line(fmt.Sprint(args...)) }
func (g legoLogger) Println(args ...any)               { g.line(fmt.Sprintln(args...)) }
func (g legoLogger) Printf(format string, args ...any) { g.line(fmt.Sprintf(format, args...)) }
func (g legoLogger) Fatal(args ...any)                 { g.l.Fatal(args...) }
func (g legoLogger) Fatalln(args ...any)               { g.l.Fatalln(args...) }
func (g legoLogger) Fatalf(format string, args ...any) { g.l.Fatalf(format, args...) }

func (g legoLogger) line(s string) {
	s = strings.TrimRight(s, "\n")
	if m, ok := strings.CutPrefix(s, "[WARN] "); ok {
		g.l.Warn(m)
		return
	}
	g.l.Info(strings.TrimPrefix(s, "[INFO] "))
}
