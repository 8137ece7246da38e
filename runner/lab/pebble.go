package lab

import (
	"crypto/tls"
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
