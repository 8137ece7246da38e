package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gitops-runner/gitops-runner/runner/gitstore"

	"github.com/gitops-runner/gitops-runner/steps"
)

// PolicyInputVersion versions the document policies see.
const PolicyInputVersion = 1

// Push describes the push (or replay) a run is for.
type Push struct {
	User    string `json:"user"`
	Ref     string `json:"ref"`
	Old     string `json:"old,omitempty"`
	New     string `json:"new,omitempty"`
	Commit  string `json:"commit"`
	Message string `json:"message"`
}

// PolicyInput is the document policies evaluate (README: "Policy input").
type PolicyInput struct {
	Version   int              `json:"version"`
	Resources []PolicyResource `json:"resources"`
	Plan      []PolicyChange   `json:"plan"`
	Push      Push             `json:"push"`
	Previous  struct {
		Resources []PolicyResource `json:"resources"`
	} `json:"previous"`
	Live map[string]any `json:"live"`
	// Renames are the resources renamed in the repo whose live object
	// stays (see Identities): the old name is not deleted.
	Renames []Rename `json:"renames"`
}

// Rename is a resource renamed in the repo: its inventory entry moves from
// From to To, and nothing is deleted.
type Rename struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// renamesOf lists the renames among targets (Identities found them).
func renamesOf(targets []steps.Target) []Rename {
	out := []Rename{}
	for _, t := range targets {
		if t.RenamedFrom != (steps.ID{}) {
			out = append(out, Rename{From: t.RenamedFrom.String(), To: t.ID.String()})
		}
	}
	return out
}

// PolicyResource is a resource as policies see it.
type PolicyResource struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	Spec      any      `json:"spec"`
	DependsOn []string `json:"dependsOn,omitempty"`
}

// PolicyChange is a planned change as policies see it.
type PolicyChange struct {
	ID     string              `json:"id"`
	Kind   string              `json:"kind"`
	Name   string              `json:"name"`
	Action steps.Action        `json:"action"`
	Before any                 `json:"before"`
	After  any                 `json:"after"`
	Fields []steps.FieldChange `json:"fields,omitempty"`
}

// Finding is one policy result.
type Finding struct {
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Rule    string `json:"rule,omitempty"`
}

// PolicyResult holds deny findings (nothing is applied) and warnings.
type PolicyResult struct {
	Deny []Finding `json:"deny,omitempty"`
	Warn []Finding `json:"warn,omitempty"`
}

// PolicyFile is a policy source file read from the commit.
type PolicyFile struct {
	Path   string
	Source []byte
}

// Policy checks a run before anything is applied: the repo's own policy
// files (from the commit) plus whatever built-ins the implementation has.
// The OPA implementation lives in package policy; a nil Policy allows
// everything.
type Policy interface {
	Check(ctx context.Context, files []PolicyFile, in *PolicyInput) (PolicyResult, error)
}

// PolicyDir is where an infra repo keeps its policies.
const PolicyDir = "policy"

// PolicyFileSize is a policy file's path and size in bytes, known before
// the file is read.
type PolicyFileSize struct {
	Path string
	Size int64
}

// SizeChecker is implemented by policies that limit the number and size of
// a commit's policy files: ReadPolicyFiles asks before it reads a byte.
type SizeChecker interface {
	CheckSizes(files []PolicyFileSize) error
}

// ReadPolicyFiles returns the .rego files under policy/ of a commit. When
// limits is set, it is asked first, with the files' sizes from git: a huge
// file is refused without being read.
func ReadPolicyFiles(snap *gitstore.Snapshot, limits SizeChecker) ([]PolicyFile, error) {
	infos, err := snap.FileInfos(PolicyDir)
	if err != nil {
		return nil, err
	}
	var rego []PolicyFileSize
	for _, f := range infos {
		if strings.HasSuffix(f.Path, ".rego") {
			rego = append(rego, PolicyFileSize{Path: f.Path, Size: f.Size})
		}
	}
	if limits != nil {
		if err := limits.CheckSizes(rego); err != nil {
			return nil, err
		}
	}
	out := make([]PolicyFile, 0, len(rego))
	for _, f := range rego {
		p := f.Path
		b, err := snap.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, PolicyFile{Path: p, Source: b})
	}
	return out, nil
}

// BuildPolicyInput assembles the policy document from the run's values. It
// is pure.
func BuildPolicyInput(desired []steps.Resource, plan *steps.Plan, prevSpecs []steps.Record, renames []Rename, push Push, live map[string]any) *PolicyInput {
	in := &PolicyInput{Version: PolicyInputVersion, Push: push, Live: live, Resources: []PolicyResource{}, Plan: []PolicyChange{}, Renames: renames}
	if in.Renames == nil {
		in.Renames = []Rename{}
	}
	if in.Live == nil {
		in.Live = map[string]any{}
	}
	// Specs are kept as their JSON: the document goes to the policy child
	// as JSON, and the policy package reads JSON into OPA values directly.
	for _, r := range desired {
		in.Resources = append(in.Resources, PolicyResource{ID: r.ID.String(), Kind: r.ID.Kind, Name: r.ID.Name,
			Spec: specJSON(r.Spec), DependsOn: idStrings(r.DependsOn)})
	}
	in.Previous.Resources = []PolicyResource{}
	for _, r := range prevSpecs {
		var spec any = r.Spec
		if !json.Valid(r.Spec) {
			spec = nil
		}
		in.Previous.Resources = append(in.Previous.Resources, PolicyResource{ID: r.ID.String(), Kind: r.ID.Kind, Name: r.ID.Name,
			Spec: spec, DependsOn: idStrings(r.DependsOn)})
	}
	if plan != nil {
		for _, c := range plan.Changes {
			in.Plan = append(in.Plan, PolicyChange{ID: c.ID.String(), Kind: c.ID.Kind, Name: c.ID.Name, Action: c.Action,
				Before: steps.JSONValue(c.Before), After: steps.JSONValue(c.After), Fields: c.Fields})
		}
	}
	return in
}

// specJSON is a decoded spec as policies see it: its JSON encoding (a
// json.RawMessage), or nil for none.
func specJSON(spec steps.Spec) any {
	if spec == nil {
		return nil
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return fmt.Sprintf("(unmarshalable: %v)", err)
	}
	return json.RawMessage(b)
}

func idStrings(ids []steps.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// pushOf completes the push part of the policy input for a loaded commit:
// the commit, its whole message (subject and body) and the deployed ref. It
// is the one place this is built, so policies judge a commit the same at
// push time (Check) and at deploy time (Run).
func (r *Runner) pushOf(l *Loaded, push Push) Push {
	push.Commit, push.Message = l.Commit, l.Message
	if push.Ref == "" {
		push.Ref = "refs/heads/" + r.Branch
	}
	return push
}

// checkPolicy is step 5: the commit's policies and the built-ins judge the
// input. No Policy allows everything.
func (r *Runner) checkPolicy(ctx context.Context, pol Policy, l *Loaded, in *PolicyInput) (PolicyResult, Diagnostics) {
	if pol == nil {
		return PolicyResult{}, nil
	}
	sc, _ := pol.(SizeChecker)
	files, err := ReadPolicyFiles(l.Snapshot, sc)
	return r.judgePolicy(ctx, pol, policyFiles{files: files, err: err, read: true}, in)
}

// policyFiles are a commit's policy files as ReadPolicyFiles read them, or
// why not.
type policyFiles struct {
	files []PolicyFile
	err   error
	read  bool // ReadPolicyFiles ran
}

// judgePolicy is checkPolicy with the policy files read.
func (r *Runner) judgePolicy(ctx context.Context, pol Policy, pf policyFiles, in *PolicyInput) (PolicyResult, Diagnostics) {
	files, err := pf.files, pf.err
	if err != nil {
		return PolicyResult{}, Diagnostics{{Summary: r.Redact(err.Error()),
			Hint: "keep policy files few and small; nothing was applied"}}
	}
	res, err := pol.Check(ctx, files, in)
	if err != nil {
		return PolicyResult{}, Diagnostics{{Summary: r.Redact(err.Error()),
			Hint: "fix the policy at the position shown (`runner policy test` runs its tests); nothing was applied"}}
	}
	return res, nil
}
