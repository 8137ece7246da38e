package proxmox

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

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
	// Parallelism bounds concurrent API reads during Observe (default
	// DefaultParallelism, 32); it halves for the rest of an Observe each
	// time the server answers 503, 595 or 596 or a read times out.
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
		pool, err := steps.CertPool(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("field caFile: %w", err)
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

// Warnings implements steps.Warner: the configuration warnings to report on
// every run, and that the last Observe lowered its reads in flight because
// the server showed strain.
func (b *Backend) Warnings() []string {
	var out []string
	if w := b.insecureWarning(); w != "" {
		out = append(out, w)
	}
	b.mu.Lock()
	if b.strain != "" {
		out = append(out, b.section+": "+b.strain)
	}
	b.mu.Unlock()
	return out
}

func (b *Backend) insecureWarning() string {
	if b.cfg.InsecureSkipVerify {
		return b.section + ": insecureSkipVerify is on: the Proxmox server's certificate is not checked (set caFile or fingerprint)"
	}
	return ""
}

// warnInsecure logs the insecure-TLS warning through p (every run).
func (b *Backend) warnInsecure(p steps.Progress) {
	if w := b.insecureWarning(); w != "" {
		progressf(p, "warning: %s", w)
	}
}
