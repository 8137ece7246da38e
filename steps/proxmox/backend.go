// Package proxmox is the backend for Proxmox VE guests: the kinds proxmox.lxc
// and proxmox.vm. It observes a cluster in bulk (/cluster/resources plus one
// config read per guest), diffs pure, and applies changes through the
// go-proxmox client, waiting on every task and classifying its errors.
package proxmox

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	goprox "github.com/luthermonson/go-proxmox"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Backend is the Proxmox VE backend. It is safe for concurrent use.
type Backend struct {
	cfg Config
	// section is the config path warnings name: backends.proxmox, or
	// backends.proxmox.clusters.NAME for one of several clusters.
	section string
	// clusterName is the cluster's name in the clusters form ("" for the
	// single-host form), for messages.
	clusterName string
	client      *goprox.Client // nil: not configured
	red         *steps.Redactor
	// retryWait is the first wait between tries of one API call.
	retryWait time.Duration

	mu      sync.Mutex
	cluster *clusterFacts // from the last Observe
	created map[steps.ID]guestRef
	// strain says how the last Observe lowered its reads in flight ("":
	// it did not).
	strain string
	// kept is the store of guest reads a push may skip (observed.go).
	kept keptReads
}

// errNotConfigured is returned by Observe and Apply without a config.
var errNotConfigured = steps.NotConfigured("proxmox", "backends.proxmox")

// New builds the backend from its config section; raw nil means "not
// configured": specs still decode (runner check, eval), Observe and Apply
// fail with a clear error. The token secret is registered with red.
func New(raw json.RawMessage, red *steps.Redactor) (*Backend, error) {
	b := &Backend{section: "backends.proxmox", red: red, retryWait: 200 * time.Millisecond, created: map[steps.ID]guestRef{}}
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
		c.Parallelism = DefaultParallelism
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
	// HTTP/2 lacks (docs/api-facts.md §1).
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	base := strings.TrimSuffix(c.URL, "/")
	if !strings.HasSuffix(base, "/api2/json") {
		base += "/api2/json"
	}
	hc := &http.Client{Transport: classifier{next: steps.APITransport("proxmox", tr)}}
	b.client = goprox.NewClient(base, goprox.WithHTTPClient(hc), goprox.WithAPIToken(c.TokenID, secret))
	return b, nil
}

// Name implements steps.Backend.
func (b *Backend) Name() string { return "proxmox" }

// Kinds implements steps.Backend.
func (b *Backend) Kinds() []string { return []string{KindLXC, KindVM} }

// Rank implements steps.Ranker: guests come first in an apply (rank 10),
// since everything else runs on them.
func (b *Backend) Rank(string) int { return 10 }

// Configured reports whether the backend has an API endpoint.
func (b *Backend) Configured() bool { return b.client != nil }

// The interfaces of package steps the backend implements.
var (
	_ steps.Backend        = (*Backend)(nil)
	_ steps.Ranker         = (*Backend)(nil)
	_ steps.Identifier     = (*Backend)(nil)
	_ steps.LiveSummarizer = (*Backend)(nil)
	_ steps.Warner         = (*Backend)(nil)
)
