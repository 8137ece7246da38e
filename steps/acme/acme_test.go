package acme

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/certificate"

	"github.com/gitops-runner/gitops-runner/steps"
)

func tlsPair(cert, key []byte) (tls.Certificate, error) { return tls.X509KeyPair(cert, key) }

func spec(domains ...string) string { return specWith(nil, domains...) }

func specWith(extra map[string]any, domains ...string) string {
	m := map[string]any{"domains": domains}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range deployFiles {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

func sameFiles(t *testing.T, a, b map[string][]byte) {
	t.Helper()
	for n := range a {
		if !bytes.Equal(a[n], b[n]) {
			t.Fatalf("%s changed", n)
		}
	}
}

func action(t *testing.T, r run, name string, want steps.Action) steps.Outcome {
	t.Helper()
	c, o := r.change(t, name)
	if c.Action != want {
		t.Fatalf("%s: action %s (notes %q), want %s", name, c.Action, c.Notes, want)
	}
	if o.Status == steps.StatusFailed {
		t.Fatalf("%s: %v", name, o.Err)
	}
	return o
}

// The lifecycle of certificates against Pebble: obtain (with a wildcard),
// a no-op run, renewal by renewBefore and by the CA's ARI window (with
// ARI replaces), a SAN change, a key type change and removal.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	w := &world{b: e.backend(nil), inventory: map[steps.ID]steps.Spec{}}
	desired := map[string]string{
		"apps": spec("apps.example.com", "*.apps.example.com"),
		"www":  spec("www.example.com", "example.com"),
	}

	r := w.run(t, desired)
	if err := r.failed(); err != nil {
		t.Fatal(err)
	}
	action(t, r, "apps", steps.Create)
	action(t, r, "www", steps.Create)
	e.verify("apps", "apps.example.com", "*.apps.example.com")
	old := e.verify("www", "www.example.com", "example.com")
	if n := e.orders.Load(); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
	// The challenge records are gone again.
	recs, err := e.sim.Records(e.solver.zoneID)
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range recs {
		if rs.Type == "TXT" {
			t.Fatalf("challenge record left behind: %+v", rs)
		}
	}

	// Next run: nothing to do, no order; ARI was asked for both.
	ari := e.ari.Load()
	r = w.run(t, desired)
	action(t, r, "apps", steps.NoOp)
	action(t, r, "www", steps.NoOp)
	if n := e.orders.Load(); n != 2 {
		t.Fatalf("a no-op run placed %d orders", n-2)
	}
	if e.ari.Load()-ari != 2 {
		t.Fatalf("%d ARI queries in a run over 2 certificates, want 2", e.ari.Load()-ari)
	}

	// Two days on, renewBefore 89d of the 90-day lifetime: inside the
	// window.
	desired["www"] = specWith(map[string]any{"renewBefore": "89d"}, "www.example.com", "example.com")
	w.b.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	r = w.run(t, desired)
	w.b.now = time.Now
	o := action(t, r, "www", steps.Update)
	action(t, r, "apps", steps.NoOp)
	if !strings.Contains(strings.Join(o.Log, "\n"), "replacing ARI cert ID") {
		t.Fatalf("renewal did not use ARI replaces: %q", o.Log)
	}
	renewed := e.verify("www", "www.example.com", "example.com")
	if renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatal("renewal kept the old certificate")
	}
	if id, err := certificate.MakeARICertID(old); err != nil || e.lastReplaces() != id {
		t.Fatalf("the renewal order replaces %q, want %q (%v)", e.lastReplaces(), id, err)
	}
	if e.synced.Load() == 0 {
		t.Fatal("the test middleware did not find the replaced order (see noteOrder)")
	}
	if n := e.orders.Load(); n != 3 {
		t.Fatalf("%d orders, want 3", n)
	}

	// The CA's ARI window moves into the past: renew without renewBefore.
	desired["www"] = spec("www.example.com", "example.com")
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	ariJSON := fmt.Sprintf(`{"suggestedWindow":{"start":%q,"end":%q}}`, past, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if err := e.store.SetARIResponse(renewed.SerialNumber, ariJSON); err != nil {
		t.Fatal(err)
	}
	r = w.run(t, desired)
	c, _ := r.change(t, "www")
	if c.Action != steps.Update || !strings.Contains(strings.Join(c.Notes, " "), "ARI window") {
		t.Fatalf("ARI window in the past: %s %q", c.Action, c.Notes)
	}
	if !w.b.Renewal(c) {
		t.Error("a renewal the ARI window made due is not a Renewal (runner serve would not apply it)")
	}
	e.verify("www", "www.example.com", "example.com")

	// SAN change, then key type change.
	desired["apps"] = spec("apps.example.com", "*.apps.example.com", "api.example.com")
	r = w.run(t, desired)
	action(t, r, "apps", steps.Update)
	if c, _ := r.change(t, "apps"); w.b.Renewal(c) {
		t.Error("a change of names is a Renewal")
	}
	action(t, r, "www", steps.NoOp)
	e.verify("apps", "apps.example.com", "*.apps.example.com", "api.example.com")

	desired["apps"] = specWith(map[string]any{"keyType": "rsa2048"}, "apps.example.com", "*.apps.example.com", "api.example.com")
	r = w.run(t, desired)
	action(t, r, "apps", steps.Update)
	e.verify("apps", "apps.example.com", "*.apps.example.com", "api.example.com")
	key, err := os.ReadFile(filepath.Join(e.root, "live", "apps", keyFile))
	if err != nil || keyTypeOf(key) != "rsa2048" {
		t.Fatalf("key type %q after the change, want rsa2048 (%v)", keyTypeOf(key), err)
	}
	orders := e.orders.Load()

	// Removal deletes the files of the owned certificate, orders nothing.
	delete(desired, "apps")
	r = w.run(t, desired)
	action(t, r, "apps", steps.Delete)
	if _, err := os.Stat(filepath.Join(e.root, "live", "apps")); !os.IsNotExist(err) {
		t.Fatalf("live/apps still there: %v", err)
	}
	r = w.run(t, desired)
	if len(r.plan.Changes) != 1 || r.plan.Changes[0].Action != steps.NoOp {
		t.Fatalf("after removal: %+v", r.plan.Changes)
	}
	if e.orders.Load() != orders {
		t.Fatal("removal placed orders")
	}
}

// A DNS failure (the record never appears) is a clear error naming the
// domain; no file changes; the failure is recorded and the next runs back
// off without ordering until the backoff has passed.
// A CA that refuses the renewal order because of its ARI replaces field
// (Pebble cannot find the order behind a serial whose DER bytes start with
// a zero byte, and answers 500 serverInternal) still renews: the runner
// orders once more without replaces, and says so.
func TestRenewalOrderRefusedForReplaces(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	w := &world{b: e.backend(nil), inventory: map[steps.ID]steps.Spec{}}
	desired := map[string]string{"www": spec("www.example.com")}
	if err := w.run(t, desired).failed(); err != nil {
		t.Fatal(err)
	}
	old := e.verify("www", "www.example.com")

	e.refuseReplaces.Store(true)
	desired["www"] = specWith(map[string]any{"renewBefore": "89d"}, "www.example.com")
	w.b.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	r := w.run(t, desired)
	w.b.now = time.Now
	o := action(t, r, "www", steps.Update)
	if log := strings.Join(o.Log, "\n"); !strings.Contains(log, "the CA refused an order replacing the old certificate (serverInternal: could not find an order") ||
		!strings.Contains(log, "ordering without ARI replaces") {
		t.Fatalf("the retry is not in the log: %q", o.Log)
	}
	if renewed := e.verify("www", "www.example.com"); renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatal("renewal kept the old certificate")
	}
	e.mu.Lock()
	replaces := slices.Clone(e.replaces)
	e.mu.Unlock()
	// The first order, then the refused one with replaces, then the one
	// without.
	want, err := certificate.MakeARICertID(old)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(replaces, []string{"", want, ""}) {
		t.Fatalf("new orders' replaces fields %q, want [\"\" %q \"\"]", replaces, want)
	}
}

// Only the CA's refusal of the new-order request itself is ordered again
// without replaces: not a rate limit, not a failed challenge or finalize
// (those solved challenges, or will fail the same way again).
func TestRefusedNewOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	b := e.backend(nil)
	newOrder := e.srv.URL + "/order-plz"
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"server error", &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:serverInternal", Method: "POST", URL: newOrder}, true},
		{"malformed CertID", fmt.Errorf("obtain: %w", &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:malformed", Method: "POST", URL: newOrder}), true},
		{"rate limited", &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:rateLimited", Method: "POST", URL: newOrder}, false},
		{"finalize", &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:serverInternal", Method: "POST", URL: e.srv.URL + "/finalize-order/x"}, false},
		{"challenge", errors.New("acme: error: 400 :: urn:ietf:params:acme:error:dns"), false},
	} {
		if got := b.refusedNewOrder(context.Background(), c.err); got != c.want {
			t.Errorf("%s: refusedNewOrder = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDNSFailureBacksOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	w := &world{b: e.backend(map[string]any{"propagationTimeout": "500ms"}), inventory: map[steps.ID]steps.Spec{}}
	desired := map[string]string{"cloud": spec("cloud.example.com")}
	if err := w.run(t, desired).failed(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.root, "live", "cloud")
	before := readAll(t, dir)

	e.solver.drop.Store(true)
	desired["cloud"] = spec("cloud.example.com", "files.example.com")
	r := w.run(t, desired)
	_, o := r.change(t, "cloud")
	if o.Status != steps.StatusFailed {
		t.Fatalf("status %s, want failed", o.Status)
	}
	msg := o.Err.Error()
	t.Logf("DNS failure: %s", msg)
	for _, want := range []string{"files.example.com", "_acme-challenge.", "no file was changed", "attempt 1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	sameFiles(t, before, readAll(t, dir))
	rec, err := w.b.readRecord("cloud")
	if err != nil || rec.Failure == nil || rec.Failure.Attempts != 1 {
		t.Fatalf("failure record %+v (%v)", rec.Failure, err)
	}

	// Within the backoff: a note, no order.
	orders := e.orders.Load()
	r = w.run(t, desired)
	c, _ := r.change(t, "cloud")
	if c.Action != steps.NoOp || !strings.Contains(strings.Join(c.Notes, " "), "next attempt after") {
		t.Fatalf("within backoff: %s %q", c.Action, c.Notes)
	}
	if e.orders.Load() != orders {
		t.Fatal("an order was placed within the backoff")
	}

	// After the first backoff (1 h) the second attempt fails too; the
	// schedule moves on to 4 h.
	start := time.Now()
	w.b.now = func() time.Time { return start.Add(61 * time.Minute) }
	_, o = w.run(t, desired).change(t, "cloud")
	if o.Status != steps.StatusFailed || !strings.Contains(o.Err.Error(), "attempt 2") {
		t.Fatalf("second attempt: %s %v", o.Status, o.Err)
	}
	w.b.now = func() time.Time { return start.Add(3 * time.Hour) }
	c, _ = w.run(t, desired).change(t, "cloud")
	if c.Action != steps.NoOp {
		t.Fatalf("within the 4 h backoff: %s", c.Action)
	}

	// The DNS works again; after the backoff the order succeeds and the
	// failure record is cleared.
	e.solver.drop.Store(false)
	w.b.now = func() time.Time { return start.Add(6 * time.Hour) }
	r = w.run(t, desired)
	if err := r.failed(); err != nil {
		t.Fatal(err)
	}
	e.verify("cloud", "cloud.example.com", "files.example.com")
	if rec, _ := w.b.readRecord("cloud"); rec.Failure != nil {
		t.Fatalf("failure record kept after success: %+v", rec.Failure)
	}
}

// A worker killed mid-deploy: before the commit point the old files stay;
// after it, the next run finishes the deploy without a new order.
func TestInterruptedDeploy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	w := &world{b: e.backend(nil), inventory: map[steps.ID]steps.Spec{}}
	desired := map[string]string{"blog": spec("blog.example.com")}
	if err := w.run(t, desired).failed(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.root, "live", "blog")
	before := readAll(t, dir)

	killed := fmt.Errorf("worker killed")
	w.b.deployHook = func(stage string) error {
		if stage == "before-commit" {
			return killed
		}
		return nil
	}
	// Two days on, renewBefore 89d of the 90-day lifetime: due.
	desired["blog"] = specWith(map[string]any{"renewBefore": "89d"}, "blog.example.com")
	w.b.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	_, o := w.run(t, desired).change(t, "blog")
	if o.Status != steps.StatusFailed || !errors.Is(o.Err, killed) {
		t.Fatalf("status %s, err %v; want the injected kill", o.Status, o.Err)
	}
	sameFiles(t, before, readAll(t, dir))
	e.verify("blog", "blog.example.com")

	// Killed after the commit point: Observe sees the committed files;
	// the next run only moves them into place.
	w.b.deployHook = func(stage string) error {
		if stage == "after-commit" {
			return killed
		}
		return nil
	}
	if _, o = w.run(t, desired).change(t, "blog"); o.Status != steps.StatusFailed || !errors.Is(o.Err, killed) {
		t.Fatalf("status %s, err %v; want the injected kill", o.Status, o.Err)
	}
	w.b.deployHook = nil
	orders := e.orders.Load()
	desired["blog"] = spec("blog.example.com")
	r := w.run(t, desired)
	c, _ := r.change(t, "blog")
	if c.Action != steps.Update || !strings.Contains(strings.Join(c.Notes, " "), "interrupted deploy") {
		t.Fatalf("after a kill past the commit point: %s %q", c.Action, c.Notes)
	}
	if e.orders.Load() != orders {
		t.Fatal("finishing a deploy placed an order")
	}
	leaf := e.verify("blog", "blog.example.com")
	if bytes.Equal(before[certFile], pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})) {
		t.Fatal("the committed certificate was not moved into place")
	}
	if _, err := os.Stat(filepath.Join(dir, commitDir)); !os.IsNotExist(err) {
		t.Fatalf("journal left: %v", err)
	}
}

// Reload commands: output into the progress log, failure and hang are
// errors with the files in place, and a failed reload runs again.
func TestReload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	w := &world{b: e.backend(nil), inventory: map[steps.ID]steps.Spec{}}
	mark := filepath.Join(t.TempDir(), "fail")
	if err := os.WriteFile(mark, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("echo reloading; if [ -e %s ]; then echo boom; exit 3; fi; echo done", mark)
	deploy := map[string]any{"reload": map[string]any{"command": []string{"/bin/sh", "-c", script}}, "mode": "0640", "group": "0"}
	desired := map[string]string{"git": specWith(map[string]any{"deploy": deploy}, "git.example.com")}

	_, o := w.run(t, desired).change(t, "git")
	if o.Status != steps.StatusFailed || !strings.Contains(o.Err.Error(), "are in place") || !strings.Contains(o.Err.Error(), "boom") {
		t.Fatalf("failing reload: %s %v", o.Status, o.Err)
	}
	e.verify("git", "git.example.com")
	fi, err := os.Stat(filepath.Join(e.root, "live", "git", fullchainFile))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("fullchain.pem mode %v (%v)", fi.Mode().Perm(), err)
	}

	if err := os.Remove(mark); err != nil {
		t.Fatal(err)
	}
	orders := e.orders.Load()
	r := w.run(t, desired)
	o = action(t, r, "git", steps.Update)
	if !strings.Contains(strings.Join(o.Log, "\n"), "reloading") || e.orders.Load() != orders {
		t.Fatalf("reload again: log %q, %d new orders", o.Log, e.orders.Load()-orders)
	}
	action(t, w.run(t, desired), "git", steps.NoOp)

	// A mode changed by hand is put back without an order.
	if err := os.Chmod(filepath.Join(e.root, "live", "git", certFile), 0o600); err != nil {
		t.Fatal(err)
	}
	action(t, w.run(t, desired), "git", steps.Update)
	fi, err = os.Stat(filepath.Join(e.root, "live", "git", certFile))
	if err != nil || fi.Mode().Perm() != 0o640 || e.orders.Load() != orders {
		t.Fatalf("mode fix: %v %v, %d orders", fi.Mode().Perm(), err, e.orders.Load()-orders)
	}

	// A hanging reload is killed at its timeout.
	hang := map[string]any{"reload": map[string]any{"command": []string{"/bin/sh", "-c", "echo waiting; sleep 30"}, "timeout": "300ms"}}
	desired["hang"] = specWith(map[string]any{"deploy": hang}, "hang.example.com")
	_, o = w.run(t, desired).change(t, "hang")
	t.Logf("hanging reload: %v; log %q", o.Err, o.Log)
	if o.Status != steps.StatusFailed || !strings.Contains(o.Err.Error(), "did not finish within 300ms") {
		t.Fatalf("hanging reload: %s %v", o.Status, o.Err)
	}
	e.verify("hang", "hang.example.com")
}

// An account is registered once per directory and kept in the store; EAB
// works against a CA that requires it; the account key is 0600.
func TestAccountEAB(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{requireEAB: true})
	const hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	if err := e.store.AddExternalAccountKeyByID("kid-1", hmac); err != nil {
		t.Fatal(err)
	}
	hf := filepath.Join(t.TempDir(), "hmac")
	if err := os.WriteFile(hf, []byte(hmac+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eab := map[string]any{"eab": map[string]any{"kid": "kid-1", "hmac": map[string]any{"file": hf}}}
	w := &world{b: e.backend(eab), inventory: map[steps.ID]steps.Spec{}}
	if err := w.run(t, map[string]string{"a": spec("a.example.com")}).failed(); err != nil {
		t.Fatal(err)
	}
	// A new backend (the next runner process) reuses the stored account.
	w.b = e.backend(eab)
	if err := w.run(t, map[string]string{"a": spec("a.example.com"), "b": spec("b.example.com")}).failed(); err != nil {
		t.Fatal(err)
	}
	e.verify("b", "b.example.com")
	if n := e.accounts.Load(); n != 1 {
		t.Fatalf("%d new-account requests, want 1", n)
	}
	fi, err := os.Stat(filepath.Join(w.b.accountDir(), "account.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("account key mode %v (%v)", fi.Mode().Perm(), err)
	}

	// Without EAB the CA refuses: the error says so and nothing is written.
	e2 := newEnv(t, envOpts{requireEAB: true})
	w2 := &world{b: e2.backend(nil), inventory: map[steps.ID]steps.Spec{}}
	_, o := w2.run(t, map[string]string{"x": spec("x.example.com")}).change(t, "x")
	if o.Status != steps.StatusFailed || !strings.Contains(o.Err.Error(), "register ACME account") || strings.Contains(o.Err.Error(), hmac) {
		t.Fatalf("no EAB: %s %v", o.Status, o.Err)
	}
}
