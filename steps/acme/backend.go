// Package acme is the certificates backend: kind acme.certificate. It keeps
// TLS certificates obtained from an ACME CA (Let's Encrypt, or Pebble in
// tests) valid on the runner host, solving DNS-01 challenges through the
// DNS backend, and deploys them in certbot's live/<name>/ layout.
package acme

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Backend is the acme.certificate backend.
type Backend struct {
	cfg    settings
	red    *steps.Redactor
	solver DNSSolver
	rt     http.RoundTripper
	now    func() time.Time
	// warnf logs a warning of the run (nil: none).
	warnf func(format string, args ...any)

	acctMu sync.Mutex
	acct   *user

	// deployHook runs between the stages of a deploy (tests simulate a
	// worker killed mid-write with it).
	deployHook func(stage string) error

	// unconfigured: the runner config has no backends.acme; specs decode
	// (eval and check work) but nothing is observed or applied.
	unconfigured bool
}

// ErrNotConfigured is what Observe and Apply return without a config section.
var ErrNotConfigured = steps.NotConfigured("acme", "backends.acme")

// New builds the backend from the runner configuration section
// backends.acme (see Config) and the DNS-01 solver (the Route 53 backend's
// provider). Secrets read from the configuration are registered with red.
func New(raw json.RawMessage, red *steps.Redactor, dns DNSSolver) (*Backend, error) {
	if raw == nil {
		return &Backend{red: red, solver: dns, now: time.Now, unconfigured: true}, nil
	}
	cfg, err := parseConfig(raw, red)
	if err != nil {
		return nil, err
	}
	if dns == nil {
		return nil, fmt.Errorf("backends.acme: no DNS-01 solver (the DNS backend must be configured)")
	}
	b := &Backend{cfg: cfg, red: red, solver: dns, now: time.Now}
	if b.rt, err = b.transport(); err != nil {
		return nil, err
	}
	b.rt = steps.APITransport("acme", b.rt)
	return b, nil
}

// Name implements steps.Backend.
func (b *Backend) Name() string { return "acme" }

// Kinds implements steps.Backend.
func (b *Backend) Kinds() []string { return []string{Kind} }

// Rank places certificates last: DNS-01 needs the zone, deploy the guests.
func (b *Backend) Rank(string) int { return 40 }

// Identities implements steps.Identifier: a certificate is its name
// ("cert:<name>", which names its state records) and the directory its
// files are written to ("dir:<path>", absolute under the certificate root;
// live/<name> unless deploy.dir says otherwise), so that two certificates
// deploying to one directory are refused. Without a configuration the
// directory is relative to the unknown root.
func (b *Backend) Identities(t steps.Target) []string {
	s, ok := specOf(t)
	if !ok {
		return nil
	}
	ids := []string{"cert:" + t.ID.Name}
	if dir, err := deployDir(b.cfg.certRoot, s.Deploy.Dir, t.ID.Name); err == nil {
		ids = append(ids, "dir:"+dir)
	}
	return ids
}

// The interfaces the pipeline and the executor look for.
var (
	_ steps.Backend     = (*Backend)(nil)
	_ steps.Ranker      = (*Backend)(nil)
	_ steps.Identifier  = (*Backend)(nil)
	_ steps.WarnLogger  = (*Backend)(nil)
	_ steps.LastDecoder = (*Backend)(nil)
)
