package proxmox_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim/simtest"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

const (
	tokenID = "runner@pve!gitops"
	secret  = "5f0e6a2c-1d2b-4c3d-9e8f-0a1b2c3d4e5f"
)

// env is a simulated homelab served over HTTPS and a backend talking to it
// through go-proxmox.
type env struct {
	t   testing.TB
	sim *sim.Server
	ts  *httptest.Server
	b   *proxmox.Backend
	dir string
}

func newEnv(t testing.TB, opts sim.Options, extra map[string]any) *env {
	t.Helper()
	if opts.Tokens == nil {
		opts.Tokens = map[string]string{tokenID: secret}
	}
	if opts.TaskDuration == 0 {
		opts.TaskDuration = 2 * time.Millisecond
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 50 * time.Millisecond
	}
	s, ts := simtest.ServeHomelab(t, opts)
	dir := t.TempDir()
	e := &env{t: t, sim: s, ts: ts, dir: dir}
	e.b = e.backend(extra)
	return e
}

// config writes the secret and CA files and returns a backends.proxmox
// section for the test server.
func (e *env) config(extra map[string]any) json.RawMessage {
	e.t.Helper()
	secretFile := filepath.Join(e.dir, "token")
	caFile := filepath.Join(e.dir, "ca.pem")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.ts.Certificate().Raw})
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		e.t.Fatal(err)
	}
	cfg := map[string]any{
		"url":          e.ts.URL,
		"tokenId":      tokenID,
		"tokenSecret":  map[string]string{"file": secretFile},
		"caFile":       caFile,
		"pollInterval": "5ms",
	}
	for k, v := range extra {
		if v == nil {
			delete(cfg, k)
			continue
		}
		cfg[k] = v
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func (e *env) backend(extra map[string]any) *proxmox.Backend {
	e.t.Helper()
	b, err := proxmox.New(e.config(extra), &steps.Redactor{})
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// plan observes and diffs the targets like the pipeline does.
func (e *env) plan(ts ...steps.Target) []steps.Change {
	e.t.Helper()
	cs, err := e.tryPlan(ts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

func (e *env) tryPlan(ts ...steps.Target) ([]steps.Change, error) {
	live, err := e.b.Observe(context.Background(), ts)
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	var out []steps.Change
	for _, t := range ts {
		c, err := e.b.Diff(t, live[t.ID])
		if err != nil {
			return nil, fmt.Errorf("diff %s: %w", t.ID, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// apply applies a change and returns its state record and the progress
// lines.
func (e *env) apply(c steps.Change) (json.RawMessage, []string, error) {
	p := &steptest.Progress{}
	st, err := e.b.Apply(context.Background(), c, p)
	return st, p.Lines(), err
}

func (e *env) mustApply(c steps.Change) json.RawMessage {
	e.t.Helper()
	st, ls, err := e.apply(c)
	if err != nil {
		e.t.Fatalf("apply %s %s: %v\n%s", c.Action, c.ID, err, strings.Join(ls, "\n"))
	}
	return st
}

// created plans and applies the create of resource kind/name with spec and
// returns what the next run's target needs: its ID, the applied spec and
// the state Apply returned.
func (e *env) created(kind, name, spec string) (steps.ID, steps.Spec, json.RawMessage) {
	e.t.Helper()
	tid, v1, c := e.planCreate(kind, name, spec)
	return tid, v1, e.mustApply(c)
}

// planCreate plans a new resource kind/name with spec; the plan must be a
// create.
func (e *env) planCreate(kind, name, spec string) (steps.ID, steps.Spec, steps.Change) {
	e.t.Helper()
	tid := id(kind, name)
	want := steptest.Decode(e.t, e.b, kind, spec)
	c := e.plan(steps.Target{ID: tid, Want: want})[0]
	if c.Action != steps.Create {
		e.t.Fatalf("plan %s: %s %+v, want create", tid, c.Action, c.Fields)
	}
	return tid, want, c
}

func id(kind, name string) steps.ID { return steps.ID{Kind: kind, Name: name} }

// owned is the target of a resource the runner applied before.
func owned(i steps.ID, want, last steps.Spec, state json.RawMessage) steps.Target {
	return steps.Target{ID: i, Want: want, Last: last, State: state}
}

func fieldPaths(c steps.Change) map[string]string {
	m := map[string]string{}
	for _, f := range c.Fields {
		m[f.Path] = string(f.Effect)
	}
	return m
}

const lxcSpec = `{"node": "pve", "vmid": 101, "cores": 2, "memory": "4GiB",
  "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
  "rootfs": {"storage": "local-lvm", "size": "8GiB"},
  "features": {"nesting": true, "keyctl": true},
  "networks": [{"bridge": "vmbr0", "ip": "10.42.0.101/24", "gateway": "10.42.0.1"}],
  "tags": ["web"], "onboot": true, "startup": {"order": 2},
  "sshPublicKeys": ["ssh-ed25519 AAAAC3Nza admin@laptop"]}`

const vmSpec = `{"node": "pve", "vmid": 104, "cores": 4, "memory": "8GiB",
  "clone": {"template": 9000, "storage": "local-zfs"},
  "cloudInit": {"user": "admin", "sshKeys": ["ssh-ed25519 AAAAC3Nza admin@laptop"], "searchdomain": "hetzner.int.mydomain"},
  "disks": [{"slot": "scsi0", "size": "64GiB"}],
  "networks": [{"bridge": "vmbr0", "ip": "10.42.0.104/24", "gateway": "10.42.0.1"}]}`

// offline is a backend without a config: Decode, Identities and Diff need
// none (Observe and Apply then fail as not configured).
func offline(t testing.TB) *proxmox.Backend {
	t.Helper()
	b, err := proxmox.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
