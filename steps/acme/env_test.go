package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	legolog "github.com/go-acme/lego/v4/log"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/gitops-runner/gitops-runner/internal/tlstest"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
	"github.com/gitops-runner/gitops-runner/steps/route53/sim/simtest"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

func TestMain(m *testing.M) {
	// Pebble reads these in its constructors (docs/api-facts.md §6): no random VA
	// sleeps, no injected bad nonces, no authorization reuse (so every
	// order really solves DNS-01). lego's CNAME following would ask the
	// system resolver, which the sandbox does not have.
	for k, v := range map[string]string{
		"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0",
		"LEGO_DISABLE_CNAME_SUPPORT": "true",
	} {
		if err := os.Setenv(k, v); err != nil {
			log.Fatal(err)
		}
	}
	legolog.Logger = log.New(logOut(), "", log.Lmicroseconds)
	os.Exit(m.Run())
}

// env is one test world: the Route 53 simulator (API + authoritative DNS),
// Pebble in-process validating DNS-01 through the simulator's DNS, and a
// solver writing TXT records through the real AWS SDK.
type env struct {
	t        testing.TB
	sim      *sim.Server
	dnsAddr  string
	store    *db.MemoryStore
	ca       *ca.CAImpl
	srv      *httptest.Server
	caFile   string
	solver   *r53Solver
	root     string
	zone     string
	state    string
	orders   atomic.Int64 // new-order requests Pebble received
	ari      atomic.Int64 // ARI requests
	accounts atomic.Int64 // new-account requests
	mu       sync.Mutex
	replaces []string     // the "replaces" field of every new order
	synced   atomic.Int64 // replaced orders noteOrder synchronized with
	// refuseReplaces makes every new order that names a certificate to
	// replace fail as Pebble fails it when it cannot find that order.
	refuseReplaces atomic.Bool
}

type envOpts struct {
	requireEAB bool
	validity   uint64 // seconds; 0: Pebble's default (90 days)
	zone       string // the simulator's zone; default example.com
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{t: t, root: t.TempDir(), state: t.TempDir()}
	e.sim = simtest.Start(t, sim.Options{})
	apiURL := simtest.Listen(t, e.sim.ListenHTTP)
	e.dnsAddr = simtest.Listen(t, e.sim.ListenDNS)
	if o.zone == "" {
		o.zone = "example.com"
	}
	e.zone = o.zone
	zoneID := simtest.Zone(t, e.sim, o.zone)
	logger := log.New(io.Discard, "", 0)
	e.store = db.NewMemoryStore()
	e.ca = ca.New(logger, e.store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: o.validity}})
	v := va.New(logger, 0, 0, false, e.dnsAddr, e.store)
	w := wfe.New(logger, e.store, v, e.ca, nil, false, o.requireEAB, 0, 0)
	h := w.Handler()
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/order-plz":
			e.orders.Add(1)
			if replaces := e.noteOrder(r); replaces != "" && e.refuseReplaces.Load() {
				// Pebble v2.10.1's answer when it cannot find the order
				// behind the serial of the certificate to replace.
				rw.Header().Set("Content-Type", "application/problem+json")
				rw.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(rw, `{"type":"urn:ietf:params:acme:error:serverInternal","detail":"could not find an order for the given certificate: could not find order resulting in the given certificate serial number","status":500}`)
				return
			}
		case r.Method == http.MethodPost && r.URL.Path == "/sign-me-up":
			e.accounts.Add(1)
		case strings.Contains(r.URL.Path, "/renewalInfo/"):
			e.ari.Add(1)
		case strings.HasPrefix(r.URL.Path, "/chalZ/"):
			// lego polls a challenge after the Retry-After of its POST
			// (5 s when absent or a date, which Pebble sends half the
			// time); Pebble's VA answers in milliseconds.
			rw.Header().Set("Retry-After", "0")
		}
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(e.srv.Close)
	e.caFile = tlstest.CAFile(t, e.srv.Certificate().Raw)
	e.solver = &r53Solver{zoneID: zoneID, client: route53.New(route53.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(sim.DefaultAccessKeyID, sim.DefaultSecretAccessKey, ""),
		BaseEndpoint: aws.String(apiURL),
	})}
	return e
}

// noteOrder records and returns the ARI "replaces" field of a new-order
// request (the JWS payload; RFC 9773 §5).
func (e *env) noteOrder(r *http.Request) string {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return ""
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var jws struct{ Payload string }
	var order struct{ Replaces string }
	if json.Unmarshal(body, &jws) != nil {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil || json.Unmarshal(payload, &order) != nil {
		return ""
	}
	if _, serial, ok := strings.Cut(order.Replaces, "."); ok {
		// Pebble v2.10.1 reads Order.IsReplaced in validateReplacementOrder
		// without the order's lock, which it writes under that lock after
		// finalizing or failing an order: a data race inside Pebble that
		// -race reports. Taking the lock here, in the handler's goroutine,
		// orders the earlier write before Pebble's read. The serial's DER
		// bytes may start with a zero byte, which Pebble's key has not.
		if b, err := base64.RawURLEncoding.DecodeString(serial); err == nil {
			if ord, err := e.store.GetOrderByIssuedSerial(hex.EncodeToString(new(big.Int).SetBytes(b).Bytes())); err == nil {
				ord.RLock()
				ord.RUnlock() //nolint:staticcheck // an empty critical section: only the ordering matters
				e.synced.Add(1)
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.replaces = append(e.replaces, order.Replaces)
	return order.Replaces
}

func (e *env) lastReplaces() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.replaces) == 0 {
		return ""
	}
	return e.replaces[len(e.replaces)-1]
}

// config is the backends.acme section for this world, plus extra fields.
func (e *env) config(extra map[string]any) json.RawMessage {
	c := map[string]any{
		"directory": e.srv.URL + "/dir",
		"email":     "ops@example.com",
		"resolvers": []string{e.dnsAddr},
		"zones":     []string{e.zone},
		"certRoot":  e.root,
		"stateDir":  e.state,
		"caFile":    e.caFile,
		// Generous: a healthy check takes milliseconds, but a loaded CI
		// machine must not turn into a recorded failure (and a backoff
		// the next step of a test then runs into). Tests of DNS failure
		// set a short timeout themselves.
		"propagationTimeout": "30s",
		"pollInterval":       "50ms",
		"reloadAllowed":      []string{"/bin/sh"},
	}
	for k, v := range extra {
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) backend(extra map[string]any) *Backend {
	e.t.Helper()
	b, err := New(e.config(extra), &steps.Redactor{}, e.solver)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// pool is Pebble's root, to verify deployed chains against.
func (e *env) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(e.ca.GetRootCert(0).Cert)
	return p
}

// verify checks that a deployed certificate chains to Pebble's root, names
// the domains, and matches its private key.
func (e *env) verify(name string, domains ...string) *x509.Certificate {
	e.t.Helper()
	dir := filepath.Join(e.root, "live", name)
	full, err := os.ReadFile(filepath.Join(dir, fullchainFile))
	if err != nil {
		e.t.Fatal(err)
	}
	var certs []*x509.Certificate
	for rest := full; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			e.t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) < 2 {
		e.t.Fatalf("fullchain.pem has %d certificates, want leaf + intermediate", len(certs))
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	for _, d := range domains {
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: e.roots(), Intermediates: inter, DNSName: strings.Replace(d, "*", "x", 1)}); err != nil {
			e.t.Fatalf("%s: verify for %s: %v", name, d, err)
		}
	}
	if !slices.Equal(certNames(certs[0]), sortedDomains(domains)) {
		e.t.Fatalf("%s: names %v, want %v", name, certNames(certs[0]), sortedDomains(domains))
	}
	leaf, _ := splitPEM(full)
	cert, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil || string(cert) != string(leaf) {
		e.t.Fatalf("cert.pem is not fullchain.pem's leaf (%v)", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := tlsPair(cert, keyPEM); err != nil {
		e.t.Fatalf("%s: privkey.pem does not match cert.pem: %v", name, err)
	}
	e.opensslVerify(dir)
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		e.t.Fatalf("privkey.pem mode %v, want 0600 (%v)", fi.Mode().Perm(), err)
	}
	return certs[0]
}

// opensslVerify runs `openssl verify` on a deployed certificate against
// Pebble's root, as an operator would (when openssl is installed).
func (e *env) opensslVerify(dir string) {
	e.t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		e.t.Logf("openssl not installed; verified with crypto/x509 only")
		return
	}
	root := tlstest.CAFile(e.t, e.ca.GetRootCert(0).Cert.Raw)
	out, err := exec.Command(bin, "verify", "-CAfile", root, "-untrusted", filepath.Join(dir, chainFile), filepath.Join(dir, certFile)).CombinedOutput() //nolint:gosec // test
	if err != nil || !strings.Contains(string(out), ": OK") {
		e.t.Fatalf("openssl verify %s: %v: %s", dir, err, out)
	}
}

// r53Solver is a DNS-01 solver writing TXT records to the Route 53
// simulator through the real AWS SDK, as the Route 53 backend's provider
// does: Present adds a value to the set at fqdn, CleanUp removes it.
type r53Solver struct {
	zoneID string
	client *route53.Client
	mu     sync.Mutex // one change per name at a time
	// drop makes Present succeed without writing: the record never appears.
	drop atomic.Bool
	// delay is added to every Present, like Route 53's wait for INSYNC.
	delay    time.Duration
	presents atomic.Int64
}

func (s *r53Solver) values(ctx context.Context, fqdn string) ([]string, error) {
	out, err := s.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(s.zoneID), StartRecordName: aws.String(fqdn), StartRecordType: types.RRTypeTxt, MaxItems: aws.Int32(1),
	})
	if err != nil {
		return nil, err
	}
	var vs []string
	for _, rs := range out.ResourceRecordSets {
		if strings.EqualFold(strings.TrimSuffix(aws.ToString(rs.Name), "."), strings.TrimSuffix(fqdn, ".")) && rs.Type == types.RRTypeTxt {
			for _, r := range rs.ResourceRecords {
				vs = append(vs, aws.ToString(r.Value))
			}
		}
	}
	return vs, nil
}

func (s *r53Solver) change(ctx context.Context, fqdn string, vs []string, action types.ChangeAction) error {
	rrs := make([]types.ResourceRecord, len(vs))
	for i, v := range vs {
		rrs[i] = types.ResourceRecord{Value: aws.String(v)}
	}
	_, err := s.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(s.zoneID),
		ChangeBatch: &types.ChangeBatch{Changes: []types.Change{{Action: action, ResourceRecordSet: &types.ResourceRecordSet{
			Name: aws.String(fqdn), Type: types.RRTypeTxt, TTL: aws.Int64(10), ResourceRecords: rrs,
		}}}},
	})
	return err
}

func (s *r53Solver) Present(ctx context.Context, fqdn, value string) error {
	s.presents.Add(1)
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.drop.Load() {
		return nil
	}
	return s.withValues(ctx, fqdn, value, func(vs []string, q string, has bool) error {
		if has {
			return nil
		}
		return s.change(ctx, fqdn, append(vs, q), types.ChangeActionUpsert)
	})
}

func (s *r53Solver) CleanUp(ctx context.Context, fqdn, value string) error {
	return s.withValues(ctx, fqdn, value, func(vs []string, q string, has bool) error {
		if !has {
			return nil
		}
		rest := slices.DeleteFunc(slices.Clone(vs), func(v string) bool { return v == q })
		if len(rest) == 0 {
			return s.change(ctx, fqdn, vs, types.ChangeActionDelete)
		}
		return s.change(ctx, fqdn, rest, types.ChangeActionUpsert)
	})
}

// withValues runs f under s's lock with the TXT values at fqdn, value as
// Route 53 quotes it, and whether the values hold it already.
func (s *r53Solver) withValues(ctx context.Context, fqdn, value string, f func(vs []string, q string, has bool) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs, err := s.values(ctx, fqdn)
	if err != nil {
		return err
	}
	q := `"` + value + `"`
	return f(vs, q, slices.Contains(vs, q))
}

// run is one runner pass over the backend, as the pipeline does it:
// targets from the desired specs and the inventory, one Observe, Diff per
// target, and the executor applying the changes; the inventory is updated
// like pipeline.NextInventory.
type run struct {
	plan     *steps.Plan
	outcomes []steps.Outcome
}

type world struct {
	b         *Backend
	inventory map[steps.ID]steps.Spec
}

func (w *world) run(t testing.TB, desired map[string]string) run {
	t.Helper()
	ctx := context.Background()
	var ts []steps.Target
	for name, raw := range desired {
		id := steps.ID{Kind: Kind, Name: name}
		ts = append(ts, steps.Target{ID: id, Want: steptest.Decode(t, w.b, Kind, raw), Last: w.inventory[id]})
	}
	for id, last := range w.inventory {
		if _, ok := desired[id.Name]; !ok {
			ts = append(ts, steps.Target{ID: id, Last: last})
		}
	}
	live, err := w.b.Observe(ctx, ts)
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	p := &steps.Plan{Deps: map[steps.ID][]steps.ID{}}
	for _, tg := range ts {
		c, err := w.b.Diff(tg, live[tg.ID])
		if err != nil {
			t.Fatalf("diff %s: %v", tg.ID, err)
		}
		p.Changes = append(p.Changes, c)
	}
	slices.SortFunc(p.Changes, func(a, b steps.Change) int { return strings.Compare(a.ID.Name, b.ID.Name) })
	reg, err := steps.NewRegistry(w.b)
	if err != nil {
		t.Fatal(err)
	}
	outs := steps.Execute(ctx, reg, p, steps.ExecOptions{Concurrency: 20, Attempts: 1})
	for i, o := range outs {
		c := p.Changes[i]
		switch {
		case c.Action == steps.Delete && o.Status == steps.StatusOK:
			delete(w.inventory, o.ID)
		case c.Target.Want != nil && (o.Status == steps.StatusOK || o.Status == steps.StatusNoOp || c.Action == steps.Create):
			w.inventory[o.ID] = c.Target.Want
		}
	}
	return run{plan: p, outcomes: outs}
}

func (r run) change(t *testing.T, name string) (steps.Change, steps.Outcome) {
	t.Helper()
	for i, c := range r.plan.Changes {
		if c.ID.Name == name {
			return c, r.outcomes[i]
		}
	}
	t.Fatalf("no change for %s", name)
	return steps.Change{}, steps.Outcome{}
}

// failing returns an error if any outcome failed.
func (r run) failed() error {
	var errs []error
	for _, o := range r.outcomes {
		if o.Status == steps.StatusFailed {
			errs = append(errs, fmt.Errorf("%s: %w", o.ID, o.Err))
		}
	}
	return errors.Join(errs...)
}

func logOut() io.Writer {
	if os.Getenv("ACME_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}
