package policy

// Input is the input document, version 1 (README.md describes every field).
// Eval takes it or any value that encodes to the same JSON. Slices left nil
// encode as null; policies treat null like an empty list, but the pipeline
// should send [] for clarity.
type Input struct {
	Version   int        `json:"version"` // InputVersion
	Resources []Resource `json:"resources"`
	Plan      []Change   `json:"plan"` // empty at `runner check`
	Push      Push       `json:"push"`
	Previous  Previous   `json:"previous"`
	// Live is live state by backend; {} at `runner check`. Policies read
	// live.proxmox.nodes.<node>.{cpus,memory} (memory in bytes), or with
	// named Proxmox clusters live.proxmox.clusters.<cluster>.nodes.<node>.
	Live map[string]any `json:"live"`
}

// Resource is one desired resource of the pushed commit.
type Resource struct {
	ID        string   `json:"id"` // "kind/name"
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	Spec      any      `json:"spec"` // the decoded spec, as JSON
	DependsOn []string `json:"dependsOn"`
}

// Change is one planned change.
type Change struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Action string `json:"action"` // create, update, replace, delete, noop
	// Before is the last applied spec plus live facts (nil for create);
	// After the desired spec (nil for delete).
	Before any           `json:"before"`
	After  any           `json:"after"`
	Fields []FieldChange `json:"fields"`
}

// FieldChange is one changed field of a Change.
type FieldChange struct {
	Path   string `json:"path"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// Push describes the git push being deployed.
type Push struct {
	User    string `json:"user"`
	Ref     string `json:"ref"`
	Old     string `json:"old"`
	New     string `json:"new"`
	Commit  string `json:"commit"`
	Message string `json:"message"`
}

// Previous is what the last successful run applied.
type Previous struct {
	Resources []Resource `json:"resources"`
}
