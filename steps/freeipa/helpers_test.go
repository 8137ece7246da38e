package freeipa_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/tlstest"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/freeipa"
	"github.com/gitops-runner/gitops-runner/steps/freeipa/sim"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

const adminPassword = "Secret.Admin-42"

// lab is a simulator behind HTTPS and a backend configured for it.
type lab struct {
	t         testing.TB
	sim       *sim.Server
	ts        *httptest.Server
	b         *freeipa.Backend
	secretDir string
	caFile    string       // the simulator's CA (PEM)
	pwFile    string       // the admin's password
	logins    atomic.Int64 // requests to login_password
	warnings  []string
}

// seed fails the test if adding fixtures to the simulator (sim.Server's
// AddHost, AddHostGroup, AddUser) failed.
func (l *lab) seed(errs ...error) {
	l.t.Helper()
	if err := errors.Join(errs...); err != nil {
		l.t.Fatal(err)
	}
}

// newLab starts the simulator (realm EXAMPLE.TEST) under
// httptest.NewTLSServer and builds the backend with New, as the runner does:
// the password from an environment-free secret file, the CA from a file.
func newLab(t testing.TB, mod func(*sim.Options), cfg func(map[string]any)) *lab {
	t.Helper()
	opts := sim.Options{Realm: "EXAMPLE.TEST", Domain: "example.test", Host: "127.0.0.1",
		Users: map[string]string{"admin": adminPassword}}
	if mod != nil {
		mod(&opts)
	}
	s, err := sim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, sim: s}
	l.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/login_password") {
			l.logins.Add(1)
		}
		s.ServeHTTP(w, r)
	}))
	l.ts.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS errors of the CA tests
	l.ts.StartTLS()
	t.Cleanup(func() { _ = s.Close(); l.ts.Close() })
	dir := t.TempDir()
	ca := tlstest.CAFile(t, l.ts.Certificate().Raw)
	pw := filepath.Join(dir, "ipa.pw")
	if err := os.WriteFile(pw, []byte(adminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.secretDir = filepath.Join(dir, "secrets")
	l.caFile, l.pwFile = ca, pw
	c := map[string]any{"url": l.ts.URL, "user": "admin", "password": map[string]any{"file": pw},
		"caFile": ca, "secretDir": l.secretDir}
	if cfg != nil {
		cfg(c)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := freeipa.New(raw, &steps.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	b.Warnf = func(f string, a ...any) {
		mu.Lock()
		l.warnings = append(l.warnings, fmt.Sprintf(f, a...))
		mu.Unlock()
	}
	l.b = b
	return l
}

// newHomelabLab is newLab for the reference homelab's FreeIPA, seeded as
// freshly installed (sim.SeedHomelab), the backend allowed its domain.
func newHomelabLab(t testing.TB) *lab {
	t.Helper()
	l := newLab(t, func(o *sim.Options) {
		*o = sim.HomelabOptions(adminPassword)
		o.Host = "127.0.0.1"
	}, func(c map[string]any) { c["domains"] = []string{sim.HomelabDomain} })
	if err := l.sim.SeedHomelab(); err != nil {
		t.Fatal(err)
	}
	return l
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// call runs a command through the backend's client and decodes the output.
func (l *lab) call(method string, args []any, opts map[string]any) map[string]any {
	l.t.Helper()
	res, err := l.b.Client().Call(ctx(l.t), method, args, opts)
	if err != nil {
		l.t.Fatalf("%s %v: %v", method, args, err)
	}
	var out map[string]any
	if err := json.Unmarshal(res, &out); err != nil {
		l.t.Fatal(err)
	}
	return out
}

// show returns the entry of an object, or nil when it does not exist.
func (l *lab) show(obj, key string) map[string]any {
	l.t.Helper()
	res, err := l.b.Client().Call(ctx(l.t), obj+"_show", []any{key}, map[string]any{"all": true})
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		l.t.Fatal(err)
	}
	var out struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		l.t.Fatal(err)
	}
	return out.Result
}

// res is a resource for converge: kind, name and spec JSON; last is the
// spec of the previous converge (the inventory).
type res struct {
	kind, name, spec string
}

// converge does what the pipeline does for the given desired resources and
// inventory (ID → last spec JSON, state): decode, Observe once, Diff each,
// Apply each in order. It returns the changes and the new inventory.
type inventory map[steps.ID]invRec

type invRec struct {
	spec  json.RawMessage
	state json.RawMessage
}

func (l *lab) converge(want []res, inv inventory, p *steptest.Progress) ([]steps.Change, inventory, error) {
	l.t.Helper()
	b := l.b
	var targets []steps.Target
	seen := map[steps.ID]bool{}
	for _, r := range want {
		id := steps.ID{Kind: r.kind, Name: r.name}
		seen[id] = true
		t := steps.Target{ID: id, Want: steptest.Decode(l.t, b, r.kind, r.spec)}
		if rec, ok := inv[id]; ok {
			t.Last, t.State = steptest.Decode(l.t, b, id.Kind, string(rec.spec)), rec.state
		}
		targets = append(targets, t)
	}
	for id, rec := range inv {
		if !seen[id] {
			targets = append(targets, steps.Target{ID: id, Last: steptest.Decode(l.t, b, id.Kind, string(rec.spec)), State: rec.state})
		}
	}
	live, err := b.Observe(ctx(l.t), targets)
	if err != nil {
		return nil, inv, err
	}
	next := inventory{}
	var changes []steps.Change
	var firstErr error
	for _, t := range targets {
		c, err := b.Diff(t, live[t.ID])
		if err != nil {
			return nil, inv, err
		}
		changes = append(changes, c)
		state, err := b.Apply(ctx(l.t), c, p)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", t.ID, err)
			}
			if rec, ok := inv[t.ID]; ok {
				next[t.ID] = rec
			}
			continue
		}
		if t.Want != nil {
			spec, _ := json.Marshal(t.Want)
			if state == nil && inv[t.ID].state != nil {
				state = inv[t.ID].state
			}
			next[t.ID] = invRec{spec: spec, state: state}
		}
	}
	return changes, next, firstErr
}

func actions(cs []steps.Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID.String()+":"+string(c.Action))
	}
	return strings.Join(out, " ")
}
