package acme

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

func testSettings(t *testing.T) settings {
	t.Helper()
	s, err := parseConfig(json.RawMessage(`{"directory":"letsencrypt-staging","certRoot":"/etc/letsencrypt","stateDir":"/var/lib/runner/acme",
		"zones":["mydomain.com"],"reloadAllowed":["/usr/bin/systemctl"]}`), &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// An inventory spec decodes as it was applied (DecodeLast): a certificate
// for a domain outside today's zones can still be deleted; its deploy
// directory and reload command are checked as in Decode.
func TestDecodeLastIgnoresZones(t *testing.T) {
	t.Parallel()
	b := &Backend{cfg: testSettings(t)}
	old := json.RawMessage(`{"domains":["www.other.org"]}`)
	if _, err := b.Decode(Kind, old); err == nil {
		t.Fatal("Decode accepts a domain outside the configured zones")
	}
	if s, err := b.DecodeLast(Kind, old); err != nil || s.(Spec).Domains[0] != "www.other.org" {
		t.Fatalf("DecodeLast = %+v, %v; want the certificate", s, err)
	}
	if _, err := b.DecodeLast(Kind, json.RawMessage(`{"domains":["www.other.org"],"reload":{"command":["/bin/sh","-c","x"]}}`)); err == nil {
		t.Fatal("DecodeLast accepts a reload command backends.acme.reloadAllowed does not list")
	}
}

// Bad specs are refused at decode time with the field named.
func TestDecodeBadInput(t *testing.T) {
	t.Parallel()
	cfg := testSettings(t)
	for _, tc := range []struct {
		name, spec, field, msg string
	}{
		{"no domains", `{}`, "domains", "at least one"},
		{"domain in no managed zone", `{"domains":["www.other.org"]}`, "domains[0]", "no DNS zone the runner manages"},
		{"zone not containing the domain", `{"domains":["www.mydomain.com"],"zone":"other.org"}`, "domains[0]", "not in zone other.org"},
		{"http-01", `{"domains":["*.apps.mydomain.com"],"challenge":"http-01"}`, "challenge", "only DNS-01"},
		{"unknown challenge", `{"domains":["a.mydomain.com"],"challenge":"dns-02"}`, "challenge", "only dns-01"},
		{"unknown key type", `{"domains":["a.mydomain.com"],"keyType":"ed25519"}`, "keyType", "unknown key type"},
		{"double wildcard", `{"domains":["*.*.mydomain.com"]}`, "domains[0]", "wildcard"},
		{"inner wildcard", `{"domains":["a*.mydomain.com"]}`, "domains[0]", "wildcard"},
		{"IP address", `{"domains":["192.0.2.1"]}`, "domains[0]", "IP addresses"},
		{"duplicate", `{"domains":["a.mydomain.com","A.mydomain.com."]}`, "domains[1]", "twice"},
		{"relative path escaping", `{"domains":["a.mydomain.com"],"deploy":{"dir":"../../etc/ssl"}}`, "deploy.dir", "outside the certificate root"},
		{"absolute path outside", `{"domains":["a.mydomain.com"],"deploy":{"dir":"/etc/ssl/private"}}`, "deploy.dir", "outside the certificate root"},
		{"the root itself", `{"domains":["a.mydomain.com"],"deploy":{"dir":"/etc/letsencrypt"}}`, "deploy.dir", "outside the certificate root"},
		{"world-readable key", `{"domains":["a.mydomain.com"],"deploy":{"keyMode":"0644"}}`, "deploy.keyMode", "every user"},
		{"bad mode", `{"domains":["a.mydomain.com"],"deploy":{"mode":"rw-r--r--"}}`, "deploy.mode", "octal"},
		{"reload not allowed", `{"domains":["a.mydomain.com"],"deploy":{"reload":{"command":["/bin/rm","-rf","/"]}}}`, "deploy.reload.command", "not allowed"},
		{"reload empty", `{"domains":["a.mydomain.com"],"deploy":{"reload":{"command":[]}}}`, "deploy.reload.command", "program"},
		{"reload bad timeout", `{"domains":["a.mydomain.com"],"deploy":{"reload":{"command":["/usr/bin/systemctl"],"timeout":"soon"}}}`, "deploy.reload.timeout", "duration"},
		{"bad renewBefore", `{"domains":["a.mydomain.com"],"renewBefore":"a month"}`, "renewBefore", "duration"},
		{"unknown field", `{"domains":["a.mydomain.com"],"keyTyp":"rsa2048"}`, "keyTyp", "unknown field"},
		{"wrong type", `{"domains":"a.mydomain.com"}`, "domains", "a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeSpec(json.RawMessage(tc.spec), cfg)
			var fe *steps.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a FieldError", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Fatalf("got field %q %q, want field %q containing %q", fe.Field, fe.Msg, tc.field, tc.msg)
			}
		})
	}
}

// TestDecodeReportsEveryProblem: a certificate spec with several bad fields
// gets one FieldError for each, not only the first (issue 17, item 3).
func TestDecodeReportsEveryProblem(t *testing.T) {
	t.Parallel()
	spec := `{"domains":["a.mydomain.com","www.other.org"],"keyTyp":"rsa2048","challenge":"http-01","deploy":{"keyMode":"0644","mode":"rw"}}`
	_, err := decodeSpec(json.RawMessage(spec), testSettings(t))
	got := steptest.ProblemFields(err)
	want := []string{"challenge", "deploy.keyMode", "deploy.mode", "domains[1]", "keyTyp"}
	if !slices.Equal(got, want) {
		t.Errorf("problems in fields %v, want %v:\n%v", got, want, err)
	}
	if !strings.Contains(err.Error(), `did you mean "keyType"?`) {
		t.Errorf("no suggestion for keyTyp:\n%v", err)
	}
}

func TestDecodeNormalises(t *testing.T) {
	t.Parallel()
	s, err := decodeSpec(json.RawMessage(`{"domains":["WWW.MyDomain.com.","*.apps.mydomain.com"],"renewBefore":"30d",
		"deploy":{"dir":"/etc/letsencrypt/live/web","reload":{"command":["/usr/bin/systemctl","reload","apache2"]}}}`), testSettings(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.Domains[0] != "www.mydomain.com" || s.KeyType != "ec256" {
		t.Fatalf("decoded %+v", s)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, cfg, msg string }{
		{"no directory", `{"certRoot":"/a","stateDir":"/b"}`, "directory: required"},
		{"plain http", `{"directory":"http://ca/dir","certRoot":"/a","stateDir":"/b"}`, "not an https URL"},
		{"relative root", `{"directory":"letsencrypt","certRoot":"certs","stateDir":"/b"}`, "certRoot"},
		{"bad resolver", `{"directory":"letsencrypt","certRoot":"/a","stateDir":"/b","resolvers":["127.0.0.1"]}`, "host:port"},
		{"bad backoff", `{"directory":"letsencrypt","certRoot":"/a","stateDir":"/b","backoff":["soon"]}`, "duration"},
		{"EAB without secret", `{"directory":"letsencrypt","certRoot":"/a","stateDir":"/b","eab":{"kid":"k","hmac":{"env":"ACME_TEST_UNSET_VAR"}}}`, "eab.hmac"},
		{"unknown field", `{"directory":"letsencrypt","certRoot":"/a","stateDir":"/b","email_":"x"}`, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(json.RawMessage(tc.cfg), &steps.Redactor{})
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
		})
	}
	s, err := parseConfig(json.RawMessage(`{"directory":"letsencrypt","certRoot":"/a","stateDir":"/b","backoff":["1h","2d"]}`), &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	if s.directory != LetsEncryptProduction || s.backoffAfter(1) != time.Hour || s.backoffAfter(7) != 48*time.Hour {
		t.Fatalf("settings %+v", s)
	}
	if d, _ := parseConfig(json.RawMessage(`{"directory":"letsencrypt","certRoot":"/a","stateDir":"/b"}`), nil); d.backoffAfter(3) != 12*time.Hour {
		t.Fatalf("default backoff: %v", d.backoff)
	}
}

// The renewal decision, table-driven on hand-made observations (Diff is
// pure).
func TestDiffRenewal(t *testing.T) {
	t.Parallel()
	cfg := testSettings(t)
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	b := &Backend{cfg: cfg, now: func() time.Time { return now }}
	valid := func(mod func(*Live)) *Live {
		l := &Live{Exists: true, Domains: []string{"www.mydomain.com"}, KeyType: "ec256", Directory: cfg.directory,
			NotBefore: now.AddDate(0, 0, -10), NotAfter: now.AddDate(0, 0, 80), certID: "abc.def",
			Files: map[string]fileMeta{certFile: {Mode: 0o644}, keyFile: {Mode: 0o600}}}
		if mod != nil {
			mod(l)
		}
		return l
	}
	for _, tc := range []struct {
		name     string
		spec     string
		have     *Live
		action   steps.Action
		note     string
		replaces bool
	}{
		{"missing", `{"domains":["www.mydomain.com"]}`, nil, steps.Create, "no certificate", false},
		{"valid", `{"domains":["www.mydomain.com"]}`, valid(nil), steps.NoOp, "", false},
		{"30 days default", `{"domains":["www.mydomain.com"]}`, valid(func(l *Live) { l.NotAfter = now.AddDate(0, 0, 29) }), steps.Update, "30 days before expiry", true},
		{"ARI window open", `{"domains":["www.mydomain.com"]}`, valid(func(l *Live) { l.ARI = &Window{Start: now.Add(-time.Hour), End: now.Add(time.Hour)} }), steps.Update, "ARI window", true},
		{"ARI window later", `{"domains":["www.mydomain.com"]}`, valid(func(l *Live) {
			l.NotAfter = now.AddDate(0, 0, 20)
			l.ARI = &Window{Start: now.Add(48 * time.Hour), End: now.Add(72 * time.Hour)}
		}), steps.NoOp, "", false},
		{"renewBefore beats ARI", `{"domains":["www.mydomain.com"],"renewBefore":"85d"}`, valid(func(l *Live) { l.ARI = &Window{Start: now.AddDate(0, 0, 50)} }), steps.Update, "renewBefore", true},
		// renewBefore as long as the certificate's lifetime (90 days) would
		// order on every pass: a third of the lifetime is used instead.
		{"renewBefore beyond lifetime: not due", `{"domains":["www.mydomain.com"],"renewBefore":"100d"}`, valid(nil), steps.NoOp, "not shorter than the certificate's lifetime (90d", false},
		{"renewBefore beyond lifetime: due at a third", `{"domains":["www.mydomain.com"],"renewBefore":"100d"}`, valid(func(l *Live) { l.NotBefore, l.NotAfter = now.AddDate(0, 0, -61), now.AddDate(0, 0, 29) }),
			steps.Update, "inside the renewal window (renewBefore 30d)", true},
		{"expired", `{"domains":["www.mydomain.com"]}`, valid(func(l *Live) { l.NotAfter = now.Add(-time.Hour) }), steps.Update, "expired", true},
		// A kept certificate (its deploy failed) is deployed rather than a
		// new one ordered, with the same clamp: else a renewBefore beyond
		// the lifetime orders on every pass.
		{"kept certificate, renewBefore beyond lifetime", `{"domains":["www.mydomain.com"],"renewBefore":"100d"}`, &Live{Undeployed: &Undeployed{Domains: []string{"www.mydomain.com"}, KeyType: "ec256",
			Directory: cfg.directory, NotBefore: now.AddDate(0, 0, -1), NotAfter: now.AddDate(0, 0, 89), IssuedAt: now.Add(-time.Hour), Serial: "ab"}},
			steps.Create, "no new order", false},
		{"kept certificate of before notBefore was kept", `{"domains":["www.mydomain.com"],"renewBefore":"100d"}`, &Live{Undeployed: &Undeployed{Domains: []string{"www.mydomain.com"}, KeyType: "ec256",
			Directory: cfg.directory, NotAfter: now.AddDate(0, 0, 89), IssuedAt: now.AddDate(0, 0, -1), Serial: "ab"}},
			steps.Create, "no new order", false},
		{"kept certificate itself due", `{"domains":["www.mydomain.com"],"renewBefore":"30d"}`, &Live{Undeployed: &Undeployed{Domains: []string{"www.mydomain.com"}, KeyType: "ec256",
			Directory: cfg.directory, NotBefore: now.AddDate(0, 0, -70), NotAfter: now.AddDate(0, 0, 20), IssuedAt: now.AddDate(0, 0, -70), Serial: "ab"}},
			steps.Create, "no certificate", false},

		{"names change", `{"domains":["www.mydomain.com","mydomain.com"]}`, valid(nil), steps.Update, "names change", true},
		{"key type", `{"domains":["www.mydomain.com"],"keyType":"rsa4096"}`, valid(nil), steps.Update, "key type changes from ec256 to rsa4096", true},
		{"other CA", `{"domains":["www.mydomain.com"]}`, valid(func(l *Live) { l.Directory = LetsEncryptProduction }), steps.Update, "issued through", false},
		{"no SAN overlap: no replaces", `{"domains":["other.mydomain.com"]}`, valid(nil), steps.Update, "names change", false},
		{"backoff", `{"domains":["www.mydomain.com"]}`, &Live{Failure: &Failure{Time: now.Add(-30 * time.Minute), Attempts: 1, Error: "boom", Domains: []string{"www.mydomain.com"}, KeyType: "ec256"}},
			steps.NoOp, "next attempt after 2026-11-01T00:30:00Z", false},
		{"backoff over", `{"domains":["www.mydomain.com"]}`, &Live{Failure: &Failure{Time: now.Add(-5 * time.Hour), Attempts: 2, Error: "boom", Domains: []string{"www.mydomain.com"}, KeyType: "ec256"}},
			steps.Create, "no certificate", false},
		{"spec changed after failure", `{"domains":["www.mydomain.com","mydomain.com"]}`, &Live{Failure: &Failure{Time: now, Attempts: 3, Domains: []string{"www.mydomain.com"}, KeyType: "ec256"}},
			steps.Create, "no certificate", false},
		{"mode drift", `{"domains":["www.mydomain.com"]}`, valid(func(l *Live) { l.Files[keyFile] = fileMeta{Mode: 0o644} }), steps.Update, "", false},
		{"pending deploy", `{"domains":["www.mydomain.com"]}`, valid(func(l *Live) { l.Pending = true }), steps.Update, "interrupted deploy", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := decodeSpec(json.RawMessage(tc.spec), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var have steps.Live
			if tc.have != nil {
				have = tc.have
			}
			c, err := b.Diff(steps.Target{ID: steps.ID{Kind: Kind, Name: "www"}, Want: s}, have)
			if err != nil {
				t.Fatal(err)
			}
			w := c.Detail.(*work)
			if c.Action != tc.action || !strings.Contains(strings.Join(c.Notes, "; "), tc.note) || (w.Replaces != "") != tc.replaces {
				t.Fatalf("got %s %q replaces=%q, want %s with %q, replaces %v", c.Action, c.Notes, w.Replaces, tc.action, tc.note, tc.replaces)
			}
			if c.Action == steps.NoOp && (w.Issue || w.Fix || w.Finish) {
				t.Fatalf("no-op with work %+v", w)
			}
		})
	}
}

// A domain the DNS backend cannot serve fails at Apply with its name, and
// a deploy directory leaving the root through a symlink is refused.
func TestApplyRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	w := &world{b: e.backend(map[string]any{"zones": []string{}}), inventory: map[steps.ID]steps.Spec{}}
	_, o := w.run(t, map[string]string{"ext": spec("www.other.org")}).change(t, "ext")
	if o.Status != steps.StatusFailed || !strings.Contains(o.Err.Error(), "DNS-01 for www.other.org: publish TXT _acme-challenge.www.other.org.") {
		t.Fatalf("domain outside the zones: %s %v", o.Status, o.Err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "live", "ext")); !os.IsNotExist(err) {
		t.Fatalf("files written for a failed order: %v", err)
	}
	// The failed first order is owned (a failed create is in the
	// inventory) and backs off.
	orders := e.orders.Load()
	c, _ := w.run(t, map[string]string{"ext": spec("www.other.org")}).change(t, "ext")
	if c.Action != steps.NoOp || !strings.Contains(strings.Join(c.Notes, " "), "attempt 1") || e.orders.Load() != orders {
		t.Fatalf("after a failed create: %s %q, %d orders", c.Action, c.Notes, e.orders.Load()-orders)
	}

	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(e.root, "live"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.root, "live", "evil")); err != nil {
		t.Fatal(err)
	}
	w.inventory = map[steps.ID]steps.Spec{}
	orders = e.orders.Load()
	_, o = w.run(t, map[string]string{"evil": spec("evil.example.com")}).change(t, "evil")
	if o.Status != steps.StatusFailed || !strings.Contains(o.Err.Error(), "outside the certificate root") {
		t.Fatalf("symlink escape: %s %v", o.Status, o.Err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 || e.orders.Load() != orders {
		t.Fatalf("wrote %d files outside the root, %d orders", len(ents), e.orders.Load()-orders)
	}
}
