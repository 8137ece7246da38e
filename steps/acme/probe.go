package acme

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Probe reads the ACME directory over the configured TLS trust, for
// `runner doctor` (RFC 8555 §7.1.1: a GET of the directory URL needs no
// account). It checks that the directory names newNonce, newAccount and
// newOrder, and returns the server's Date header; zero if absent.
func (b *Backend) Probe(ctx context.Context) (string, time.Time, error) {
	if b.unconfigured {
		return "", time.Time{}, ErrNotConfigured
	}
	dir, date, err := b.readDirectory(ctx)
	if err != nil {
		return "", date, err
	}
	for _, k := range []string{"newNonce", "newAccount", "newOrder"} {
		if _, ok := dir[k]; !ok {
			return "", date, fmt.Errorf("ACME directory %s: no %s (RFC 8555 §7.1.1)", b.cfg.directory, k)
		}
	}
	return "GET " + b.cfg.directory + ": an ACME directory", date, nil
}

// readDirectory GETs the ACME directory object (RFC 8555 §7.1.1) and
// returns its fields and the server's Date header (zero if absent).
func (b *Backend) readDirectory(ctx context.Context) (map[string]any, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.directory, nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	resp, err := (&http.Client{Transport: b.rt, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("ACME directory %s: %w", b.cfg.directory, err)
	}
	defer resp.Body.Close() //nolint:errcheck // read-only
	date, _ := http.ParseTime(resp.Header.Get("Date"))
	if resp.StatusCode != http.StatusOK {
		return nil, date, fmt.Errorf("ACME directory %s: %s", b.cfg.directory, resp.Status)
	}
	var dir map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&dir); err != nil {
		return nil, date, fmt.Errorf("ACME directory %s: not a directory object: %w", b.cfg.directory, err)
	}
	return dir, date, nil
}
