package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// ID names a resource: its kind and its name, written "kind/name".
type ID struct {
	Kind string
	Name string
}

// String returns "kind/name".
func (id ID) String() string { return id.Kind + "/" + id.Name }

// ParseID parses "kind/name". The name may itself contain slashes.
func ParseID(s string) (ID, error) {
	kind, name, ok := strings.Cut(s, "/")
	if !ok || kind == "" || name == "" {
		return ID{}, fmt.Errorf("%q is not a resource ID: want kind/name, e.g. proxmox.lxc/nextcloud", s)
	}
	return ID{Kind: kind, Name: name}, nil
}

// MarshalText writes the ID as "kind/name" (so IDs are JSON strings and map keys).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads "kind/name".
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// Less orders IDs by kind, then name.
func (id ID) Less(o ID) bool {
	if id.Kind != o.Kind {
		return id.Kind < o.Kind
	}
	return id.Name < o.Name
}

// Spec is a backend's decoded, validated desired state of one resource. It is a
// backend-defined type; it must marshal to JSON (the inventory keeps it) and must
// not hold secrets (they never come from the infra repo).
type Spec any

// Live is a backend's observation of one resource; a nil Live means the
// resource does not exist.
type Live any

// Resource is one desired resource, as declared in the infra repo.
type Resource struct {
	ID        ID
	DependsOn []ID
	// Adopt allows the runner to take over a resource that exists but that it did
	// not create. Without it, such a collision is an error.
	Adopt bool
	// Raw is the spec as evaluated; Spec the backend's decoding of it.
	Raw  json.RawMessage
	Spec Spec
}

// Record is what the inventory keeps of a resource the runner applied: it is
// how the runner knows what it owns and what to delete when a resource leaves
// the repo.
type Record struct {
	ID        ID              `json:"id"`
	DependsOn []ID            `json:"dependsOn,omitempty"`
	Adopted   bool            `json:"adopted,omitempty"`
	Spec      json.RawMessage `json:"spec"`
	// State is the backend's own record of the resource (e.g. an allocated
	// VMID), as returned by Apply.
	State json.RawMessage `json:"state,omitempty"`
	// Commit is the source commit that last applied the resource.
	Commit string `json:"commit,omitempty"`
}

// Target is what a backend observes and diffs: a desired resource, a
// previously applied one, or both.
type Target struct {
	ID ID
	// Want is the desired spec; nil when the resource left the repo (a delete
	// candidate).
	Want Spec
	// Adopt is Resource.Adopt.
	Adopt bool
	// Last is the decoded spec last applied (from the inventory); nil when the
	// runner never applied this resource. State is the backend's record.
	Last  Spec
	State json.RawMessage
	// RenamedFrom is the inventory entry this target takes over: the
	// resource was renamed in the repo while its live object stayed (same
	// identity, see Identifier). Zero when not renamed.
	RenamedFrom ID
	// Release, on a resource that left the repo (Want nil), plans a
	// Release instead of a Delete: a replay of a commit from before the
	// runner adopted it.
	Release bool
}

// Owned reports whether the runner created or adopted the resource earlier.
func (t Target) Owned() bool { return t.Last != nil }

// Progress receives a backend's progress lines during Apply ("waiting for task
// UPID:…", "DNS change C123 INSYNC").
type Progress interface {
	Printf(format string, args ...any)
}

// Backend is the contract between the pipeline and one backend. Observation is
// in bulk, Diff is pure, and only Observe and Apply talk to the world.
type Backend interface {
	// Name is the backend's name in the runner configuration ("proxmox").
	Name() string
	// Kinds lists the resource kinds the backend owns ("proxmox.lxc").
	Kinds() []string
	// Decode strictly decodes a spec: unknown fields and bad values are errors
	// (a *FieldError names the field).
	Decode(kind string, raw json.RawMessage) (Spec, error)
	// Observe reads the live state of all targets in few calls. A target that
	// does not exist is absent from the map (or maps to nil).
	Observe(ctx context.Context, targets []Target) (map[ID]Live, error)
	// Diff computes the change that takes have to t.Want (Want nil = delete).
	// It does no I/O.
	Diff(t Target, have Live) (Change, error)
	// Apply performs one change and returns the backend's state record for
	// the inventory. Errors that may pass are wrapped with Transient.
	Apply(ctx context.Context, c Change, p Progress) (json.RawMessage, error)
}

// LastDecoder is implemented by backends whose Decode checks a spec against
// the backend's current configuration (a Proxmox cluster, a dnsmasq site that
// must be configured). DecodeLast decodes a spec as it was applied — a record
// of the inventory — checking its shape (fields and values) but nothing of the
// configuration, so a spec applied under an earlier configuration still
// decodes. The backend then says, per resource, what the configuration change
// means for it (a guest on a cluster no longer configured) instead of every
// run failing before observe. Errors are as Decode's. The pipeline decodes
// inventory specs with DecodeLast when a backend implements it, else with
// Decode.
type LastDecoder interface {
	DecodeLast(kind string, raw json.RawMessage) (Spec, error)
}

// Registry maps kinds to their backends.
type Registry struct {
	byKind   map[string]Backend
	backends []Backend
}

// NewRegistry registers backends; two backends claiming one kind is an error.
func NewRegistry(bs ...Backend) (*Registry, error) {
	r := &Registry{byKind: map[string]Backend{}}
	for _, b := range bs {
		for _, k := range b.Kinds() {
			if o, dup := r.byKind[k]; dup {
				return nil, fmt.Errorf("kind %s is claimed by backends %s and %s", k, o.Name(), b.Name())
			}
			r.byKind[k] = b
		}
		r.backends = append(r.backends, b)
	}
	return r, nil
}

// Backend returns the backend of a kind.
func (r *Registry) Backend(kind string) (Backend, bool) {
	b, ok := r.byKind[kind]
	return b, ok
}

// Backends lists the registered backends in registration order.
func (r *Registry) Backends() []Backend { return r.backends }

// DefaultRank is the apply position of a kind whose backend does not say.
const DefaultRank = 50

// Rank is the default position of a kind in an apply (lower first): what its
// backend's Ranker says, else DefaultRank. It orders independent changes;
// dependsOn orders the rest, and deletes run in reverse.
func (r *Registry) Rank(kind string) int {
	if rk, ok := r.byKind[kind].(Ranker); ok {
		return rk.Rank(kind)
	}
	return DefaultRank
}

// Kinds lists all registered kinds, sorted.
func (r *Registry) Kinds() []string {
	ks := make([]string, 0, len(r.byKind))
	for k := range r.byKind {
		ks = append(ks, k)
	}
	sortStrings(ks)
	return ks
}

// LiveSummarizer is implemented by backends that offer facts about the live
// world to policies (e.g. Proxmox nodes with their memory). The summary is
// taken after Observe and appears in the policy input under live.<Name()>.
type LiveSummarizer interface {
	LiveSummary() any
}

// ParallelApplier is implemented by backends whose Apply calls are cheap to
// run many at once, typically because the backend batches them itself (a
// DNS change batch). The executor then runs up to MaxParallel of that
// backend's changes at once, in a pool of their own, instead of sharing the
// global bound.
type ParallelApplier interface {
	MaxParallel() int
}

// Warner is implemented by backends with standing warnings to report on
// every run (e.g. TLS verification switched off in the config).
type Warner interface {
	Warnings() []string
}

// WarnLogger is implemented by backends that log notable events of their
// own (a FreeIPA replica taking over from a failed server): the runner
// hands them its run log's Warnf, so the lines carry the run's fields and
// redaction.
type WarnLogger interface {
	SetWarnf(warnf func(format string, args ...any))
}

// InfoLogger is implemented by backends that log facts of a run that are
// not warnings (which FreeIPA server served it): the runner hands them its
// run log's Infof.
type InfoLogger interface {
	SetInfof(infof func(format string, args ...any))
}

// Ranker is implemented by backends that place their kinds in the default
// apply order: lower ranks first (guests 10, identity 20, DNS 30,
// certificates 40), DefaultRank for a backend without one.
type Ranker interface {
	Rank(kind string) int
}

// Identifier is implemented by backends that can name the live object a
// target manages, independently of the resource's name: a Proxmox VMID, a
// Route 53 zone+name+type, a FreeIPA kind and canonical name, a certificate's
// deploy directory. The pipeline refuses two targets with one identity (or
// plans a rename when a resource left the repo and a new one took its live
// object), so one live object is never managed by two resources. Identities
// returns zero or more keys, each unique within the backend; an empty result
// means the identity is not known before apply (e.g. a VMID still to be
// allocated).
type Identifier interface {
	Identities(t Target) []string
}
