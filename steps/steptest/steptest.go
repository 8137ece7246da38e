// Package steptest is a backend for tests of the engine and the pipeline: it
// keeps its "live" world in memory, records every call, and fails on demand,
// so the executor, ordering, retries, ownership and reporting are tested
// without real backends.
package steptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Kinds are the kinds the test backend owns. Both have the default rank, so
// their order comes from dependsOn and IDs only.
var Kinds = []string{"test.thing", "test.other"}

// Spec is the desired state of a test resource.
type Spec struct {
	// Value is an ordinary field: changing it is an update.
	Value string `json:"value"`
	// Size must be positive when set.
	Size int `json:"size,omitempty"`
	// Immutable forces a replace when it changes.
	Immutable string `json:"immutable,omitempty"`
	// Token is sensitive: plans show it redacted.
	Token string `json:"token,omitempty"`
}

// view is the spec as reports and policies see it: the token redacted.
func (s Spec) view() Spec {
	if s.Token != "" {
		s.Token = steps.Redacted
	}
	return s
}

// Fault makes Apply of one resource fail.
type Fault struct {
	// Times is how many applies fail before one succeeds (<0: always).
	Times int
	// Transient marks the error as transient (the executor retries).
	Transient bool
}

// ErrInjected is the error of an injected fault.
var ErrInjected = errors.New("injected fault")

// Backend is the test backend.
type Backend struct {
	mu     sync.Mutex
	world  map[steps.ID]Spec
	faults map[steps.ID]*Fault
	file   string
	// Delay is added to every Apply (for concurrency and cancellation tests).
	Delay time.Duration

	observeCalls int
	applied      []steps.ID
	running      int
	maxRunning   int
}

// New returns a test backend with an empty world.
func New() *Backend {
	return &Backend{world: map[steps.ID]Spec{}, faults: map[steps.ID]*Fault{}}
}

// NewFile returns a test backend whose world lives in a JSON file, so
// separate runner processes (CLI tests) share it. Observe reads the file;
// Apply writes it.
func NewFile(path string) *Backend {
	b := New()
	b.file = path
	return b
}

func (b *Backend) load() error {
	if b.file == "" {
		return nil
	}
	data, err := os.ReadFile(b.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var w map[steps.ID]Spec
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%s: %w", b.file, err)
	}
	b.world = w
	return nil
}

func (b *Backend) save() error {
	if b.file == "" {
		return nil
	}
	data, err := json.MarshalIndent(b.world, "", "  ")
	if err != nil {
		return err
	}
	// Atomic, like a real service's state: a killed runner must not
	// corrupt the world it was changing.
	return atomicfile.Write(b.file, data, 0o600)
}

// Name implements steps.Backend.
func (b *Backend) Name() string { return "test" }

// Kinds implements steps.Backend.
func (b *Backend) Kinds() []string { return Kinds }

// Decode implements steps.Backend.
func (b *Backend) Decode(kind string, raw json.RawMessage) (steps.Spec, error) {
	var s Spec
	if err := steps.DecodeStrict(raw, &s); err != nil {
		return nil, err
	}
	if s.Value == "" {
		return nil, steps.FieldErrorf("value", "is required")
	}
	if s.Size < 0 {
		return nil, steps.FieldErrorf("size", "must be positive, got %d", s.Size)
	}
	return s, nil
}

// Observe implements steps.Backend: one call for all targets.
func (b *Backend) Observe(ctx context.Context, ts []steps.Target) (map[steps.ID]steps.Live, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.observeCalls++
	if err := b.load(); err != nil {
		return nil, err
	}
	out := make(map[steps.ID]steps.Live, len(ts))
	for _, t := range ts {
		if s, ok := b.world[t.ID]; ok {
			out[t.ID] = s
		}
	}
	return out, nil
}

// Diff implements steps.Backend.
func (b *Backend) Diff(t steps.Target, have steps.Live) (steps.Change, error) {
	c := steps.Change{ID: t.ID, Target: t, Have: have}
	var before, after *Spec
	if have != nil {
		h := have.(Spec)
		before = &h
		c.Before = h.view()
	}
	if t.Want != nil {
		w := t.Want.(Spec)
		after = &w
		c.After = w.view()
	}
	switch {
	case before == nil && after == nil:
		c.Action = steps.NoOp
	case before == nil:
		c.Action = steps.Create
	case after == nil:
		c.Action = steps.Delete
	case *before == *after:
		c.Action = steps.NoOp
	case before.Immutable != after.Immutable:
		c.Action = steps.Replace
	default:
		c.Action = steps.Update
	}
	if c.Action != steps.NoOp {
		c.Fields = steps.DiffFields(before, after, "token")
		for i := range c.Fields {
			if c.Fields[i].Path == "immutable" {
				c.Fields[i].Effect = steps.EffectReplace
			}
		}
	}
	return c, nil
}

// Apply implements steps.Backend.
func (b *Backend) Apply(ctx context.Context, c steps.Change, p steps.Progress) (json.RawMessage, error) {
	b.mu.Lock()
	b.running++
	b.maxRunning = max(b.maxRunning, b.running)
	f := b.faults[c.ID]
	fail := f != nil && f.Times != 0
	if fail && f.Times > 0 {
		f.Times--
	}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running--
		b.mu.Unlock()
	}()
	if b.Delay > 0 {
		if err := steps.Sleep(ctx, b.Delay); err != nil {
			return nil, err
		}
	}
	p.Printf("%s %s", c.Action, c.ID)
	if fail {
		err := fmt.Errorf("apply %s: %w", c.ID, ErrInjected)
		if f.Transient {
			return nil, steps.Transient(err)
		}
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applied = append(b.applied, c.ID)
	if c.Action == steps.Delete {
		delete(b.world, c.ID)
		return nil, b.save()
	}
	b.world[c.ID] = c.Target.Want.(Spec)
	if err := b.save(); err != nil {
		return nil, err
	}
	return json.RawMessage(fmt.Sprintf(`{"applies":%d}`, len(b.applied))), nil
}

// Fail injects a fault for id.
func (b *Backend) Fail(id steps.ID, f Fault) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults[id] = &f
}

// Put sets a live resource, as if someone created it outside the runner.
func (b *Backend) Put(id steps.ID, s Spec) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.world[id] = s
}

// World returns a copy of the live world.
func (b *Backend) World() map[steps.ID]Spec {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[steps.ID]Spec, len(b.world))
	for k, v := range b.world {
		out[k] = v
	}
	return out
}

// Calls reports the number of Observe calls and the IDs applied, in order.
func (b *Backend) Calls() (observe int, applied []steps.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.observeCalls, append([]steps.ID(nil), b.applied...)
}

// MaxConcurrent is the most Applies that ran at once.
func (b *Backend) MaxConcurrent() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.maxRunning
}

// Reset clears the call records (not the world).
func (b *Backend) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.observeCalls, b.applied, b.maxRunning = 0, nil, 0
}

// IDs returns the world's IDs, sorted.
func (b *Backend) IDs() []steps.ID {
	w := b.World()
	ids := make([]steps.ID, 0, len(w))
	for id := range w {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Less(ids[j]) })
	return ids
}

// ID parses "kind/name" for tests; it panics on a malformed ID.
func ID(s string) steps.ID {
	i, err := steps.ParseID(s)
	if err != nil {
		panic(err)
	}
	return i
}
