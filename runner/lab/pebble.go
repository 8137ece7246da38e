package lab

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// startPebble serves a Pebble ACME CA over HTTPS on loopback (docs/api-facts.md §6:
// in-process embedding; its VA queries the given DNS server over TCP).
func (l *Lab) startPebble(tlsConf *tls.Config) error {
	// Pebble reads these in its constructors: no random validation sleep,
	// no injected bad nonces (the lab wants speed, not chaos).
	_ = os.Setenv("PEBBLE_VA_NOSLEEP", "1")
	_ = os.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	// lego would look CNAMEs up through the host's resolver, which knows
	// nothing of the lab's zone.
	l.Env = append(l.Env, "LEGO_DISABLE_CNAME_SUPPORT=true")
	_ = os.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true")
	// A new CA knows none of the old accounts: start with a fresh one.
	_ = os.RemoveAll(filepath.Join(l.Dir, "state", "acme", "accounts"))

	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	l.pebble = store
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "runner lab", ValidityPeriod: uint64((90 * 24 * time.Hour).Seconds())}})
	v := va.New(logger, 0, 0, false, l.DNSAddr, store)
	w := wfe.New(logger, store, v, authority, nil, false, false, 0, 0)
	h := w.Handler()
	ln, err := l.ports.listen("acme")
	if err != nil {
		return err
	}
	srv := &http.Server{ReadHeaderTimeout: 30 * time.Second, TLSConfig: tlsConf,
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
				l.orders.Add(1)
			}
			if strings.HasPrefix(r.URL.Path, "/chalZ/") {
				// lego waits for a challenge as long as Retry-After says,
				// 5 s when absent; Pebble's VA answers in milliseconds.
				rw.Header().Set("Retry-After", "0")
			}
			h.ServeHTTP(rw, r)
		})}
	l.serve(srv, tls.NewListener(ln, tlsConf))
	l.ACMEURL = "https://" + ln.Addr().String()
	return nil
}

// Orders is how many orders (newOrder requests, RFC 8555 §7.4) the lab's
// CA received since the lab started.
func (l *Lab) Orders() int { return int(l.orders.Load()) }

// MakeRenewalsDue asks the lab's CA to have the named certificates (their
// certbot-layout directory names under certs/live; all when none is
// named) renewed now, as a CA does when it must replace certificates
// early: their ARI suggested window (RFC 9773 §4.2) moves into the past,
// which tells a client to renew at once. The certificates that replace
// them get the CA's ordinary window again. It returns the names changed;
// a certificate this CA did not issue is an error (after a restart, call
// ReissueForeign before the deploy).
func (l *Lab) MakeRenewalsDue(names ...string) ([]string, error) {
	now := time.Now().UTC()
	var w struct {
		SuggestedWindow struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"suggestedWindow"`
	}
	w.SuggestedWindow.Start, w.SuggestedWindow.End = now.Add(-2*time.Hour), now.Add(-time.Hour)
	ari, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	certs, err := l.liveCerts(names)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if err := l.pebble.SetARIResponse(c.leaf.SerialNumber, string(ari)); err != nil {
			return nil, fmt.Errorf("certificate %s (serial %x): the lab's CA did not issue it (%w); deploy first", c.name, c.leaf.SerialNumber, err)
		}
	}
	return certNames(certs), nil
}

// ReissueForeign removes the named certificates (as MakeRenewalsDue names
// them) that this run's CA did not issue from certs/live, so that the next
// deploy orders them anew from it. Pebble keeps its state in memory: after
// a restart every certificate deployed before comes from a CA that is gone,
// and the new one can neither answer ARI for it nor accept an order that
// replaces it. It returns the names removed.
func (l *Lab) ReissueForeign(names ...string) ([]string, error) {
	certs, err := l.liveCerts(names)
	if err != nil {
		return nil, err
	}
	var gone []liveCert
	for _, c := range certs {
		if l.pebble.GetCertificateBySerial(c.leaf.SerialNumber) != nil {
			continue
		}
		if err := os.RemoveAll(c.dir); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", c.name, err)
		}
		gone = append(gone, c)
	}
	return certNames(gone), nil
}

// liveCert is a deployed certificate of the lab: certs/live/<name>.
type liveCert struct {
	name, dir string
	leaf      *x509.Certificate
}

// liveCerts reads the named certificates under certs/live (all when none
// is named).
func (l *Lab) liveCerts(names []string) ([]liveCert, error) {
	live := filepath.Join(l.Dir, "certs", "live")
	if len(names) == 0 {
		ents, err := os.ReadDir(live)
		if err != nil {
			return nil, fmt.Errorf("certificates to renew: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	var out []liveCert
	for _, n := range names {
		dir := filepath.Join(live, n)
		file := filepath.Join(dir, "cert.pem")
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", n, err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("certificate %s: %s holds no PEM certificate", n, file)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", n, err)
		}
		out = append(out, liveCert{name: n, dir: dir, leaf: c})
	}
	return out, nil
}

func certNames(cs []liveCert) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
}
