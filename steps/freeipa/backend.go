// Package freeipa is the FreeIPA backend: hosts, host groups, services,
// users, groups and sudo rules, through FreeIPA's JSON-RPC API with our own
// small client. Observe reads each kind with one *_find; Diff compares
// attributes and memberships; Apply runs *_add/_mod/_del and the member
// commands, and writes enrolment one-time passwords to the secret directory.
package freeipa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Config is the backends.freeipa section of the runner configuration.
type Config struct {
	// URL of the server, e.g. https://ipa.example.test.
	URL string `json:"url,omitempty"`
	// URLs are the servers of a FreeIPA domain with replicas, instead of
	// URL, in the order they are tried: calls go to one server until it
	// cannot be reached, then to the next (see Client.Call).
	URLs []string `json:"urls,omitempty"`
	// User logs in with Password (a file or environment variable).
	User     string          `json:"user"`
	Password steps.SecretRef `json:"password"`
	// CAFile is the IPA CA certificate (PEM), e.g. /etc/ipa/ca.crt.
	CAFile string `json:"caFile,omitempty"`
	// InsecureSkipVerify turns off certificate checks; warned about on every run.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// APIVersion is sent with every call (default DefaultAPIVersion).
	APIVersion string `json:"apiVersion,omitempty"`
	// SecretDir is where host enrolment one-time passwords are written
	// (<secretDir>/<fqdn>.otp, mode 0600).
	SecretDir string `json:"secretDir,omitempty"`
	// Parallelism bounds concurrent calls of one Observe (default 4).
	Parallelism int `json:"parallelism,omitempty"`
	// Domains, when set, are the DNS domains host names must be in.
	Domains []string `json:"domains,omitempty"`
}

// Backend is the FreeIPA backend.
type Backend struct {
	cfg    Config
	client *Client // nil when not configured
	// Warnf receives warnings, Infof facts of the run such as the server
	// that served it (default: the standard logger).
	Warnf, Infof func(format string, args ...any)

	mu     sync.Mutex
	dir    string // the observe directory of the last Observe (servers.go)
	onFile string // the server preferFile stands for (the first of urls: no file); "" unknown
}

// ErrNotConfigured is returned by Observe and Apply when the runner config
// has no backends.freeipa section.
var ErrNotConfigured = steps.NotConfigured("freeipa", "backends.freeipa")

// New builds the backend from the backends.freeipa config section (strict;
// nil or empty = not configured: Decode works, Observe and Apply fail). The
// password is read now and registered with red, so it is redacted everywhere.
func New(raw json.RawMessage, red *steps.Redactor) (*Backend, error) {
	b := &Backend{Warnf: log.Printf, Infof: log.Printf}
	if len(raw) == 0 || string(raw) == "null" {
		return b, nil
	}
	if err := steps.DecodeStrict(raw, &b.cfg); err != nil {
		return nil, fmt.Errorf("backends.freeipa: %w", err)
	}
	c := b.cfg
	switch {
	case c.URL == "" && len(c.URLs) == 0:
		return nil, errors.New("backends.freeipa.url is required, e.g. https://ipa.example.test (or urls: [...], one per replica)")
	case c.URL != "" && len(c.URLs) > 0:
		return nil, errors.New("backends.freeipa: give url or urls, not both")
	case c.User == "":
		return nil, errors.New("backends.freeipa.user is required")
	case c.Parallelism < 0:
		return nil, errors.New("backends.freeipa.parallelism must be positive")
	}
	pw, err := c.Password.Read(red)
	if err != nil {
		return nil, fmt.Errorf("backends.freeipa.password: %w", err)
	}
	cl, err := NewClient(ClientOptions{URL: c.URL, URLs: c.URLs, User: c.User, Password: pw, APIVersion: c.APIVersion,
		CAFile: c.CAFile, InsecureSkipVerify: c.InsecureSkipVerify,
		Logf: func(format string, args ...any) { b.Warnf(format, args...) }})
	if err != nil {
		return nil, fmt.Errorf("backends.freeipa: %w", err)
	}
	b.client = cl
	return b, nil
}

// NewWithClient builds a configured backend around an existing client
// (tests, runner lab).
func NewWithClient(cfg Config, cl *Client) *Backend {
	return &Backend{cfg: cfg, client: cl, Warnf: log.Printf, Infof: log.Printf}
}

// SetWarnf implements steps.WarnLogger.
func (b *Backend) SetWarnf(warnf func(format string, args ...any)) { b.Warnf = warnf }

// SetInfof implements steps.InfoLogger.
func (b *Backend) SetInfof(infof func(format string, args ...any)) { b.Infof = infof }

// Client returns the backend's client (nil when not configured).
func (b *Backend) Client() *Client { return b.client }

// Name implements steps.Backend.
func (b *Backend) Name() string { return "freeipa" }

// Kinds implements steps.Backend.
func (b *Backend) Kinds() []string { return append([]string(nil), allKinds...) }

func (b *Backend) parallelism() int {
	if b.cfg.Parallelism > 0 {
		return b.cfg.Parallelism
	}
	return 4
}

// ready fails when the backend is not configured; warn (once per run, from
// Observe) repeats the insecureSkipVerify warning.
func (b *Backend) ready(warn bool) error {
	if b.client == nil {
		return ErrNotConfigured
	}
	if warn && b.cfg.InsecureSkipVerify {
		b.Warnf("freeipa: insecureSkipVerify is set: the certificate of %s is not checked; set caFile instead", b.client.Server())
	}
	return nil
}

// call runs one command with a bounded time.
func (b *Backend) call(ctx context.Context, method string, args []any, opts map[string]any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := b.client.Call(ctx, method, args, opts)
	b.rememberServer()
	return res, err
}

// Rank places identity after guests (a host follows its guest) and before
// DNS and certificates.
func (b *Backend) Rank(string) int { return 20 }

// Identities implements steps.Identifier: the FreeIPA object a target
// manages (the desired one, else the last applied), as "<kind>:<name>" with
// the name in lower case, e.g. "freeipa.user:alice",
// "freeipa.host:web1.example.test". FreeIPA's LDAP matches uid, cn, fqdn and
// principal names without regard to case (the host, user and group plugins
// lower-case them outright), so names differing only in case are one object.
func (b *Backend) Identities(t steps.Target) []string {
	kd := kindDefs[t.ID.Kind]
	if kd == nil {
		return nil
	}
	s := t.Want
	if s == nil {
		s = t.Last
	}
	if s == nil {
		return nil
	}
	return []string{kd.kind + ":" + strings.ToLower(kd.key(s))}
}

// The interfaces the pipeline and the executor look for.
var (
	_ steps.Backend        = (*Backend)(nil)
	_ steps.Ranker         = (*Backend)(nil)
	_ steps.Identifier     = (*Backend)(nil)
	_ steps.WarnLogger     = (*Backend)(nil)
	_ steps.InfoLogger     = (*Backend)(nil)
	_ steps.LastDecoder    = (*Backend)(nil)
	_ steps.Warner         = (*Backend)(nil)
	_ steps.LiveSummarizer = (*Backend)(nil)
)
