package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// existing is the infra repo an import adds to (--into): what it declares,
// by resource ID and by the live object each resource manages.
type existing struct {
	dir  string
	main []byte
	// specs are the resources the repo declares; verify strikes each off
	// as it finds it again after the import.
	specs map[steps.ID]steps.Spec
	// owner maps a backend's identity key ("proxmox vmid:101") to the
	// resource that manages that live object.
	owner map[string]steps.ID
	// taken are the file names handed out to new files.
	taken map[string]bool
}

// readExisting evaluates and decodes the repo in dir as a push would.
func readExisting(ctx context.Context, reg *steps.Registry, dir string) (*existing, error) {
	main, err := os.ReadFile(filepath.Join(dir, "main.jsonnet")) //nolint:gosec // the repo the operator named
	if err != nil {
		return nil, fmt.Errorf("%w: --into %s: %w (it must be the work tree of an infra repo, with main.jsonnet at its root)", ErrBadTarget, dir, err)
	}
	out, err := evalDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--into %s: main.jsonnet does not evaluate, fix it first: %w", dir, err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rs, ds := pipeline.Decode(reg, "main.jsonnet", []byte(out))
	if hasErrors(ds) {
		return nil, fmt.Errorf("--into %s: the repo does not decode, fix it first: %w", dir, ds)
	}
	e := &existing{dir: dir, main: main, specs: map[steps.ID]steps.Spec{}, owner: map[string]steps.ID{}, taken: map[string]bool{}}
	for _, r := range rs {
		e.specs[r.ID] = r.Spec
		for _, k := range identities(reg, steps.Target{ID: r.ID, Want: r.Spec}) {
			e.owner[k] = r.ID
		}
	}
	return e, nil
}

// identities are a target's identity keys, prefixed with its backend's
// name (keys are unique within a backend only).
func identities(reg *steps.Registry, t steps.Target) []string {
	b, ok := reg.Backend(t.ID.Kind)
	if !ok {
		return nil
	}
	idf, ok := b.(steps.Identifier)
	if !ok {
		return nil
	}
	var out []string
	for _, k := range idf.Identities(t) {
		out = append(out, b.Name()+" "+k)
	}
	return out
}

// skip removes from im the resources the repo declares already — a
// resource managing the same live object, under the same ID or another —
// with their notes, and returns what it removed. A live object whose ID
// the repo uses for a different live object (by the backends' identities:
// proxmox.lxc/media is CT 199 in the repo, CT 120 live) is not imported
// either: it is listed as left alone, with the conflict, since a second
// resource of that ID cannot be declared and another name would not be
// the operator's. A repo resource with no identity (a guest without a
// vmid) is taken to manage the live object of its ID. A nil repo skips
// nothing.
func (e *existing) skip(reg *steps.Registry, im *steps.Imported) []string {
	if e == nil {
		return nil
	}
	var skipped []string
	var conflicts []steps.Unmanaged
	gone := map[steps.ID]bool{}
	im.Resources = slices.DeleteFunc(im.Resources, func(f steps.Found) bool {
		live := identities(reg, steps.Target{ID: f.ID, Want: f.Spec})
		for _, k := range live {
			if other, ok := e.owner[k]; ok {
				if other == f.ID {
					skipped = append(skipped, f.ID.String())
				} else {
					skipped = append(skipped, fmt.Sprintf("%s (declared as %s)", f.ID, other))
				}
				gone[f.ID] = true
				return true
			}
		}
		spec, ok := e.specs[f.ID]
		if !ok {
			return false
		}
		gone[f.ID] = true
		theirs := identities(reg, steps.Target{ID: f.ID, Want: spec})
		if len(live) == 0 || len(theirs) == 0 {
			skipped = append(skipped, f.ID.String())
			return true
		}
		conflicts = append(conflicts, steps.Unmanaged{
			Where: fmt.Sprintf("%s (live: %s)", f.ID, strings.Join(live, ", ")),
			Why:   fmt.Sprintf("the repo declares %s for another live object (%s): a second resource of that name cannot be declared", f.ID, strings.Join(theirs, ", ")),
			Then:  "left alone, not imported: rename the repo's resource or the live object, then import again",
		})
		return true
	})
	about := func(u steps.Unmanaged) bool { return gone[u.ID] }
	im.Unmanaged = append(slices.DeleteFunc(im.Unmanaged, about), conflicts...)
	im.Confirm = slices.DeleteFunc(im.Confirm, about)
	return skipped
}

// declares reports whether r is one of the repo's own resources.
func (e *existing) declares(r steps.Resource) bool {
	if e == nil {
		return false
	}
	_, ok := e.specs[r.ID]
	return ok
}

// newName is name, or for a repo that has a file of that name already
// "guests-imported.libsonnet" ("…-imported-2…" and so on): an import never
// overwrites a file.
func (e *existing) newName(name string) string {
	if e == nil {
		return name
	}
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 1; ; i++ {
		n := name
		switch {
		case i == 2:
			n = base + "-imported" + ext
		case i > 2:
			n = base + "-imported-" + strconv.Itoa(i-1) + ext
		}
		if _, err := os.Lstat(filepath.Join(e.dir, n)); errors.Is(err, fs.ErrNotExist) && !e.taken[n] {
			e.taken[n] = true
			return n
		}
	}
}

// mainWith is the repo's main.jsonnet with the new files' resources added
// at its end, its own text untouched: `<main> + { resources+: … }` (a
// Jsonnet file is one expression, and runner.output gives an object with
// resources). verify checks that the result still declares every resource
// the repo had.
func (e *existing) mainWith(files []string, importMD string) []byte {
	if len(files) == 0 {
		return e.main
	}
	var imports []string
	for _, f := range files {
		imports = append(imports, "(import '"+f+"')") // names the import chose: no quote in them
	}
	main := strings.TrimRight(string(e.main), "\n")
	return []byte(main + "\n\n// Added by `runner import --into`: live objects the repo did not declare yet (see " + importMD + ").\n" +
		"+ { resources+: " + strings.Join(imports, " + ") + " }\n")
}
