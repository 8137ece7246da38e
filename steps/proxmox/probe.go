package proxmox

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"time"

	goprox "github.com/luthermonson/go-proxmox"
)

// Probe makes one read-only call with the configured token, for
// `runner doctor`: GET /api2/json/version (PVE API viewer: /version, any
// authenticated user). The server's clock is read from the Date header of
// the same request sent without the token over the same TLS settings (the
// go-proxmox client does not expose response headers; the 401 carries the
// header too); zero if absent.
func (b *Backend) Probe(ctx context.Context) (string, time.Time, error) {
	if b.client == nil {
		return "", time.Time{}, errNotConfigured
	}
	var v goprox.Version
	if err := b.get(ctx, "/version", &v); err != nil {
		return "", time.Time{}, err
	}
	return fmt.Sprintf("GET /version: Proxmox VE %s (token %s)", v.Version, b.cfg.TokenID), b.serverDate(ctx), nil
}

func (b *Backend) serverDate(ctx context.Context) time.Time {
	tlsConf, err := b.cfg.tlsConfig()
	if err != nil {
		return time.Time{}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	// HTTP/1.1 only, as the API client (docs/api-facts.md §1).
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(b.cfg.URL, "/")+"/api2/json/version", nil)
	if err != nil {
		return time.Time{}
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return time.Time{}
	}
	_ = resp.Body.Close()
	t, _ := http.ParseTime(resp.Header.Get("Date"))
	return t
}
