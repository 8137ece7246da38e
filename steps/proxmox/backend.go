// Package proxmox is the backend for Proxmox VE guests: the kinds proxmox.lxc
// and proxmox.vm. It observes a cluster in bulk (/cluster/resources plus one
// config read per guest), diffs pure, and applies changes through the
// go-proxmox client, waiting on every task and classifying its errors.
package proxmox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	goprox "github.com/luthermonson/go-proxmox"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Config is the backends.proxmox section of the runner configuration.
type Config struct {
	// URL of the API, e.g. "https://pve.example.com:8006" (the /api2/json
	// suffix is added when missing).
	URL string `json:"url"`
	// TokenID is the API token, "user@realm!name".
	TokenID string `json:"tokenId"`
	// TokenSecret names the file or environment variable with the token's
	// secret (the UUID).
	TokenSecret steps.SecretRef `json:"tokenSecret"`
	// CAFile is a PEM file with the CA that signed the server certificate
	// (Proxmox's own /etc/pve/pve-root-ca.pem).
	CAFile string `json:"caFile,omitempty"`
	// Fingerprint pins the server certificate: its SHA-256, hex, with or
	// without colons (as the Proxmox UI shows it).
	Fingerprint string `json:"fingerprint,omitempty"`
	// InsecureSkipVerify turns certificate checks off (warned on every run).
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// Parallelism bounds concurrent API reads during Observe (default 8).
	Parallelism int `json:"parallelism,omitempty"`
	// TaskTimeout bounds the wait for one task (default "10m").
	TaskTimeout Duration `json:"taskTimeout,omitempty"`
	// ShutdownTimeout is how long a graceful shutdown may take before the
	// guest is stopped hard (default "2m").
	ShutdownTimeout Duration `json:"shutdownTimeout,omitempty"`
	// PollInterval is the task status poll interval (default "500ms"); it
	// is also the first wait before retrying a call that failed
	// transiently (doubling, up to 5 s; 4 tries per call).
	PollInterval Duration `json:"pollInterval,omitempty"`
}

// Duration is a duration string in the config ("90s", "10m").
type Duration = steps.Duration

// Backend is the Proxmox VE backend. It is safe for concurrent use.
type Backend struct {
	cfg    Config
	client *goprox.Client // nil: not configured
	red    *steps.Redactor
	// retryWait is the first wait between tries of one API call.
	retryWait time.Duration

	mu      sync.Mutex
	cluster *clusterFacts // from the last Observe
	created map[steps.ID]guestRef
}

// errNotConfigured is returned by Observe and Apply without a config.
var errNotConfigured = errors.New("backend proxmox is not configured: add backends.proxmox to the runner config")

// New builds the backend from its config section; raw nil means "not
// configured": specs still decode (runner check, eval), Observe and Apply
// fail with a clear error. The token secret is registered with red.
func New(raw json.RawMessage, red *steps.Redactor) (*Backend, error) {
	b := &Backend{red: red, retryWait: 200 * time.Millisecond, created: map[steps.ID]guestRef{}}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return b, nil
	}
	if err := steps.DecodeStrict(raw, &b.cfg); err != nil {
		return nil, err
	}
	c := &b.cfg
	if c.URL == "" {
		return nil, errors.New("field url: is required, e.g. https://pve.example.com:8006")
	}
	if !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://") {
		return nil, fmt.Errorf("field url: %q is not an http(s) URL", c.URL)
	}
	user, name, ok := strings.Cut(c.TokenID, "!")
	if !ok || !strings.Contains(user, "@") || name == "" {
		return nil, fmt.Errorf("field tokenId: want USER@REALM!NAME, got %q", c.TokenID)
	}
	secret, err := c.TokenSecret.Read(red)
	if err != nil {
		return nil, fmt.Errorf("field tokenSecret: %w", err)
	}
	if c.Parallelism == 0 {
		c.Parallelism = 8
	}
	if c.Parallelism < 1 || c.Parallelism > 256 {
		return nil, fmt.Errorf("field parallelism: must be between 1 and 256, got %d", c.Parallelism)
	}
	if c.TaskTimeout == 0 {
		c.TaskTimeout = Duration(10 * time.Minute)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(2 * time.Minute)
	}
	if c.PollInterval == 0 {
		c.PollInterval = Duration(500 * time.Millisecond)
	}
	// Retries of one failed call are paced like task polls.
	b.retryWait = time.Duration(c.PollInterval)
	tlsConf, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	// The sim author measured TLS handshakes dominating a fan-out with Go's
	// default of 2 idle connections per host (sim/README.md, Numbers).
	tr.MaxIdleConnsPerHost = c.Parallelism * 2
	tr.MaxIdleConns = c.Parallelism * 4
	// HTTP/1.1 only: PVE's error message is in the reason phrase, which
	// HTTP/2 lacks (api-facts §1).
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	base := strings.TrimSuffix(c.URL, "/")
	if !strings.HasSuffix(base, "/api2/json") {
		base += "/api2/json"
	}
	hc := &http.Client{Transport: classifier{next: tr}}
	b.client = goprox.NewClient(base, goprox.WithHTTPClient(hc), goprox.WithAPIToken(c.TokenID, secret))
	return b, nil
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	n := 0
	for _, set := range []bool{c.CAFile != "", c.Fingerprint != "", c.InsecureSkipVerify} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("give one of caFile, fingerprint and insecureSkipVerify")
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case c.CAFile != "":
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("field caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("field caFile: %s holds no PEM certificate", c.CAFile)
		}
		conf.RootCAs = pool
	case c.Fingerprint != "":
		want, err := hex.DecodeString(strings.ReplaceAll(strings.ToLower(c.Fingerprint), ":", ""))
		if err != nil || len(want) != sha256.Size {
			return nil, errors.New("field fingerprint: want the SHA-256 of the server certificate in hex (64 digits, colons allowed)")
		}
		// Proxmox serves a self-signed certificate: the pin replaces chain
		// verification, and VerifyPeerCertificate checks it on every
		// handshake.
		conf.InsecureSkipVerify = true //nolint:gosec // replaced by the fingerprint check below
		conf.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("proxmox: the server sent no certificate")
			}
			got := sha256.Sum256(raw[0])
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("proxmox: server certificate fingerprint %s does not match the pinned fingerprint", hex.EncodeToString(got[:]))
			}
			return nil
		}
	case c.InsecureSkipVerify:
		conf.InsecureSkipVerify = true //nolint:gosec // explicit opt-in by the config; warned on every run
	}
	return conf, nil
}

// Name implements steps.Backend.
func (b *Backend) Name() string { return "proxmox" }

// Kinds implements steps.Backend.
func (b *Backend) Kinds() []string { return []string{KindLXC, KindVM} }

// Decode implements steps.Backend: strict, with defaults filled and sizes
// normalized to MiB.
func (b *Backend) Decode(kind string, raw json.RawMessage) (steps.Spec, error) {
	return decodeSpec(kind, raw)
}

// Configured reports whether the backend has an API endpoint.
func (b *Backend) Configured() bool { return b.client != nil }

// Warnings are the configuration warnings to report on every run.
func (b *Backend) Warnings() []string {
	if b.cfg.InsecureSkipVerify {
		return []string{"backends.proxmox: insecureSkipVerify is on: the Proxmox server's certificate is not checked (set caFile or fingerprint)"}
	}
	return nil
}

// LiveSummary implements steps.LiveSummarizer: the nodes seen by the last
// Observe, with cpus and memory in bytes (policy input live.proxmox).
func (b *Backend) LiveSummary() any {
	b.mu.Lock()
	defer b.mu.Unlock()
	nodes := map[string]any{}
	if b.cluster != nil {
		for name, n := range b.cluster.nodes {
			nodes[name] = map[string]any{"cpus": n.cpus, "memory": n.memory, "online": n.online}
		}
	}
	return map[string]any{"nodes": nodes}
}

func (b *Backend) facts() *clusterFacts {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cluster
}

// progressf is a Progress that may be nil.
func progressf(p steps.Progress, format string, args ...any) {
	if p != nil {
		p.Printf(format, args...)
	}
}

// warnInsecure logs the insecure-TLS warning through p (every run).
func (b *Backend) warnInsecure(p steps.Progress) {
	for _, w := range b.Warnings() {
		progressf(p, "warning: %s", w)
	}
}

var _ steps.Backend = (*Backend)(nil)
var _ steps.LiveSummarizer = (*Backend)(nil)

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// Rank places guests first in an apply: everything else runs on them.
func (b *Backend) Rank(string) int { return 10 }
