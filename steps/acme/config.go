package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

// The Let's Encrypt directories, selectable by name in Config.Directory.
const (
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// Config is the runner configuration section backends.acme.
type Config struct {
	// Directory is the ACME directory URL, or "letsencrypt" /
	// "letsencrypt-staging" for Let's Encrypt (one setting switches CA).
	Directory string `json:"directory"`
	// Email is the account's contact address (optional).
	Email string `json:"email,omitempty"`
	// EAB is the external account binding for CAs that require one.
	EAB *EAB `json:"eab,omitempty"`
	// Resolvers ("host:port") are asked for the challenge TXT record before
	// the CA is told to validate; empty: lego's default check (the zone's
	// authoritative servers, found through the system resolver).
	Resolvers []string `json:"resolvers,omitempty"`
	// Zones, when set, are the DNS zones the solver manages: a domain in
	// none of them is refused when the spec is decoded.
	Zones []string `json:"zones,omitempty"`
	// CertRoot is the certificate root (like /etc/letsencrypt); every
	// deploy directory must lie inside it.
	CertRoot string `json:"certRoot"`
	// StateDir keeps the account keys and registrations (0600), failed-order
	// records and per-certificate metadata.
	StateDir string `json:"stateDir"`
	// CAFile is a PEM bundle trusted for the directory's TLS (e.g. Pebble's
	// test CA); empty: the system roots.
	CAFile string `json:"caFile,omitempty"`
	// Backoff is the wait after the 1st, 2nd, … failed order; the last entry
	// repeats. Default 1h, 4h, 12h, 24h.
	Backoff []Duration `json:"backoff,omitempty"`
	// PropagationTimeout bounds the wait for the TXT record to be visible
	// (default 2m); PollInterval is the wait between checks (default 2s).
	PropagationTimeout Duration `json:"propagationTimeout,omitempty"`
	PollInterval       Duration `json:"pollInterval,omitempty"`
	// ReloadAllowed lists the programs (as written in deploy.reload.command[0])
	// a spec may run after a deploy; a reload command runs on the runner host
	// with the runner's rights, so the host's configuration, not the infra
	// repo, decides. Empty: no reload commands.
	ReloadAllowed []string `json:"reloadAllowed,omitempty"`
	// Concurrency bounds the ARI queries of Observe (default 8).
	Concurrency int `json:"concurrency,omitempty"`
}

// EAB is an external account binding: the key ID and the base64url HMAC key.
type EAB struct {
	KID  string          `json:"kid"`
	HMAC steps.SecretRef `json:"hmac"`
}

// Duration is a duration string: Go syntax ("90m", "12h") or whole days ("30d").
type Duration = steps.Duration

// ParseDuration parses Go duration syntax or a number of days ("30d").
func ParseDuration(s string) (time.Duration, error) { return steps.ParseDuration(s) }

// defaultBackoff is the retry schedule after failed orders.
var defaultBackoff = []time.Duration{time.Hour, 4 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// settings is the validated configuration.
type settings struct {
	directory     string
	email         string
	eabKID        string
	eabHMAC       string
	resolvers     []string
	zones         []string
	certRoot      string
	stateDir      string
	caFile        string
	backoff       []time.Duration
	propTimeout   time.Duration
	pollEvery     time.Duration
	concurrency   int
	reloadAllowed []string
}

func parseConfig(raw json.RawMessage, red *steps.Redactor) (settings, error) {
	var c Config
	if err := steps.DecodeStrict(raw, &c); err != nil {
		return settings{}, fmt.Errorf("backends.acme: %w", err)
	}
	s := settings{email: c.Email, caFile: c.CAFile, concurrency: c.Concurrency, reloadAllowed: c.ReloadAllowed}
	switch c.Directory {
	case "":
		return s, errors.New("backends.acme.directory: required (an ACME directory URL, letsencrypt or letsencrypt-staging)")
	case "letsencrypt":
		s.directory = LetsEncryptProduction
	case "letsencrypt-staging":
		s.directory = LetsEncryptStaging
	default:
		if !strings.HasPrefix(c.Directory, "https://") {
			return s, fmt.Errorf("backends.acme.directory: %q is not an https URL (ACME requires TLS)", c.Directory)
		}
		s.directory = c.Directory
	}
	if c.EAB != nil {
		if c.EAB.KID == "" {
			return s, errors.New("backends.acme.eab.kid: required")
		}
		h, err := c.EAB.HMAC.Read(red)
		if err != nil {
			return s, fmt.Errorf("backends.acme.eab.hmac: %w", err)
		}
		s.eabKID, s.eabHMAC = c.EAB.KID, h
	}
	for _, r := range c.Resolvers {
		if _, _, err := splitHostPort(r); err != nil {
			return s, fmt.Errorf("backends.acme.resolvers: %q: want host:port", r)
		}
		s.resolvers = append(s.resolvers, r)
	}
	for _, z := range c.Zones {
		s.zones = append(s.zones, canonicalName(z))
	}
	for name, p := range map[string]*string{"certRoot": &c.CertRoot, "stateDir": &c.StateDir} {
		if *p == "" || !filepath.IsAbs(*p) {
			return s, fmt.Errorf("backends.acme.%s: want an absolute directory, got %q", name, *p)
		}
	}
	s.certRoot, s.stateDir = filepath.Clean(c.CertRoot), filepath.Clean(c.StateDir)
	for _, d := range c.Backoff {
		if d <= 0 {
			return s, errors.New("backends.acme.backoff: durations must be positive")
		}
		s.backoff = append(s.backoff, time.Duration(d))
	}
	if len(s.backoff) == 0 {
		s.backoff = defaultBackoff
	}
	s.propTimeout, s.pollEvery = time.Duration(c.PropagationTimeout), time.Duration(c.PollInterval)
	if s.propTimeout <= 0 {
		s.propTimeout = 2 * time.Minute
	}
	if s.pollEvery <= 0 {
		s.pollEvery = 2 * time.Second
	}
	if s.concurrency <= 0 {
		s.concurrency = 8
	}
	return s, nil
}

// backoffAfter is the wait after the n-th consecutive failed order (n ≥ 1).
func (s settings) backoffAfter(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > len(s.backoff) {
		n = len(s.backoff)
	}
	return s.backoff[n-1]
}
