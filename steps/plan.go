package steps

// This file holds the plan's types only; fielddiff.go computes field changes.

// Action is what a change does to a resource.
type Action string

// The actions of a plan.
const (
	NoOp    Action = "noop"
	Create  Action = "create"
	Update  Action = "update"
	Replace Action = "replace"
	Delete  Action = "delete"
	// Adopt takes over a resource that exists, that the runner did not
	// create, and that already matches its spec (the resource says
	// adopt: true): the inventory records it, nothing is written to the
	// backend. An adoption that also changes fields is an Update (or
	// Replace) with a note.
	Adopt Action = "adopt"
	// Release stops managing a resource the runner adopted and leaves its
	// live object as it is: the inventory drops it, nothing is written to
	// the backend. A replay plans it for an adopted resource that the
	// replayed commit does not declare (the object existed, unmanaged, at
	// that commit); any other run deletes a resource that left the repo.
	Release Action = "release"
)

// Writes reports whether applying the action calls the backend: false for
// NoOp, Adopt and Release.
func (a Action) Writes() bool { return a != NoOp && a != Adopt && a != Release }

// Redacted stands in for the value of a sensitive field in plans and reports.
const Redacted = "(sensitive)"

// FieldChange is one field's change, before → after, in JSON form.
type FieldChange struct {
	Path   string `json:"path"`
	Before any    `json:"before"`
	After  any    `json:"after"`
	// Sensitive values are shown as Redacted.
	Sensitive bool `json:"sensitive,omitempty"`
	// Effect says how the change takes effect when that is notable.
	Effect Effect `json:"effect,omitempty"`
}

// Effect is how a field's change takes effect, when that is notable.
type Effect string

// The effects of a field change.
const (
	// EffectReplace: the backend cannot change the field in place; the
	// resource is replaced (deleted and created again).
	EffectReplace Effect = "replace"
	// EffectReboot: the change is pending until the resource restarts
	// (a running guest's memory on Proxmox).
	EffectReboot Effect = "reboot"
)

// Change is the planned change of one resource.
type Change struct {
	ID     ID
	Action Action
	Fields []FieldChange
	// Notes are facts worth reporting ("pending reboot: memory").
	Notes []string
	// Blocked says why the change cannot be applied in this run, as the
	// backend saw at Observe ("CT 120 is locked (backup): try again after
	// the backup"); "" when it can. The executor does not apply a blocked
	// change: it and its dependents are skipped, the rest is applied.
	Blocked string
	// Before and After are JSON-able views of the resource for reports and
	// policies (sensitive values redacted); nil where absent.
	Before any
	After  any
	// Target and Have are what the change was computed from; Apply uses them.
	Target Target
	Have   Live
	// Detail is backend-private data computed by Diff for Apply.
	Detail any
}

// Plan is the set of changes of one run, in execution order.
type Plan struct {
	Changes []Change
	// Deps maps a change to the changes that must finish before it.
	Deps map[ID][]ID
}

// Counts returns how many changes the plan has per action.
func (p *Plan) Counts() map[Action]int {
	m := map[Action]int{}
	for _, c := range p.Changes {
		m[c.Action]++
	}
	return m
}

// Changed is the number of changes that are not no-ops.
func (p *Plan) Changed() int {
	n := 0
	for _, c := range p.Changes {
		if c.Action != NoOp {
			n++
		}
	}
	return n
}
