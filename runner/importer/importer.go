// Package importer writes an infra repo from what already lives in the
// backends (`runner import`): main.jsonnet, one file per backend built with
// the lib's helpers, every resource adopted, and IMPORT.md listing what the
// runner cannot manage. Before it returns, it evaluates what it wrote and
// checks that every resource decodes to exactly the spec it was read as, so
// the first push of the repo plans no change.
package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/formatter"

	"github.com/gitops-runner/gitops-runner/lib"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/steps"
)

// Source is one backend to read and where in it (see steps.Importer).
type Source struct {
	Backend steps.Importer
	// Name is the backend's name, for messages ("route53").
	Name  string
	Where []string
}

// Request is one import.
type Request struct {
	Sources []Source
	// Select keeps only resources whose ID (kind/name) matches one of these
	// path.Match patterns, e.g. "route53.record/*.mydomain.com"; empty
	// keeps all.
	Select []string
	// Dir is where the repo's files are written; it must be empty or absent.
	Dir string
	// Into, instead of Dir, is the work tree of an existing infra repo:
	// only resources it does not declare yet (by ID or by the live object
	// they manage) are written, into new files that its main.jsonnet
	// imports (see into.go).
	Into string
	// Progress hears one line per backend read.
	Progress func(format string, args ...any)
}

// Result says what an import wrote.
type Result struct {
	// Files are the paths written, relative to Dir, sorted.
	Files []string
	// Resources is the number of resources written; Unmanaged the number of
	// live objects listed in IMPORT.md instead.
	Resources, Unmanaged int
	// Skipped (--into) are the resources found that the repo declares
	// already: "kind/name" or "kind/name (declared as kind/other)".
	Skipped []string
}

// ErrNothingSelected is Run's error (wrapped) when --select patterns match
// none of the resources read: nothing is written.
var ErrNothingSelected = errors.New("nothing selected")

// ErrBadTarget is Run's error (wrapped) when where to write is not usable:
// Dir has files, Into has no main.jsonnet. Nothing is read or written.
var ErrBadTarget = errors.New("cannot write there")

// Run reads every source, writes the repo into req.Dir and verifies it
// against reg (the same registry a push is decoded with). Errors: a
// source's read error (nothing is written), a non-empty Dir or an Into
// without main.jsonnet (ErrBadTarget), a bad select
// pattern, select patterns that match nothing (ErrNothingSelected, nothing
// written), and a verification failure (the files are kept for a bug
// report, and the error names each resource that would not plan clean).
func Run(ctx context.Context, reg *steps.Registry, req Request) (*Result, error) {
	if err := CheckSelect(req.Select); err != nil {
		return nil, err
	}
	var repo *existing
	if req.Into != "" {
		var err error
		if repo, err = readExisting(ctx, reg, req.Into); err != nil {
			return nil, err
		}
		req.Dir = req.Into
	} else if err := emptyDir(req.Dir); err != nil {
		return nil, err
	}
	var parts []*steps.Imported
	var skippedAll []string
	read, kept := 0, 0
	chk := newChecker(reg)
	seen := map[steps.ID]bool{} // a second live object read as one resource is left alone
	for _, s := range req.Sources {
		im, err := s.Backend.Import(ctx, s.Where)
		if err != nil {
			return nil, fmt.Errorf("import from %s: %w", s.Name, err)
		}
		read += len(im.Resources)
		im.Resources = slices.DeleteFunc(im.Resources, func(f steps.Found) bool { return !selected(req.Select, f.ID) })
		kept += len(im.Resources)
		aboutLeftOut := func(u steps.Unmanaged) bool { return u.ID != (steps.ID{}) && !selected(req.Select, u.ID) }
		im.Unmanaged = slices.DeleteFunc(im.Unmanaged, aboutLeftOut)
		im.Confirm = slices.DeleteFunc(im.Confirm, aboutLeftOut)
		im.Resources = slices.DeleteFunc(im.Resources, func(f steps.Found) bool {
			why := declarable(reg, f)
			if why == "" && seen[f.ID] {
				why = "another live object was read as the same resource (a bug in the import of " + s.Name + ")"
			}
			if why == "" {
				why = chk.check(im.Header, f)
			}
			seen[f.ID] = seen[f.ID] || why == ""
			if why != "" {
				im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{Where: f.ID.String(), Why: why,
					Then: "left alone: the runner neither changes nor deletes it"})
			}
			return why != ""
		})
		skipped := repo.skip(reg, im)
		if req.Progress != nil {
			req.Progress("%s: %d resources, %d left alone", s.Name, len(im.Resources), len(im.Unmanaged))
			if len(skipped) > 0 {
				req.Progress("%s: %d declared in %s already: %s", s.Name, len(skipped), req.Into, strings.Join(skipped, ", "))
			}
		}
		skippedAll = append(skippedAll, skipped...)
		parts = append(parts, im)
	}
	if len(req.Select) > 0 && kept == 0 {
		return nil, fmt.Errorf("%w: --select %s matched none of the %d resources read (patterns match kind/name, e.g. 'proxmox.vm/*' or 'route53.record/A-*')",
			ErrNothingSelected, strings.Join(req.Select, " "), read)
	}
	linkMachines(parts)
	files := map[string][]byte{}
	res := &Result{Skipped: skippedAll}
	var mainImports []string
	for _, im := range parts {
		if len(im.Resources) == 0 {
			continue
		}
		im.File = repo.newName(im.File)
		src, err := format(im.File, backendFile(im))
		if err != nil {
			return nil, fmt.Errorf("format %s: %w (a bug in the import of these resources)", im.File, err)
		}
		files[im.File] = src
		mainImports = append(mainImports, im.File)
		res.Resources += len(im.Resources)
	}
	importFile := repo.newName("IMPORT.md")
	if repo != nil {
		files["main.jsonnet"] = repo.mainWith(mainImports, importFile)
	} else {
		main, err := format("main.jsonnet", mainFile(mainImports))
		if err != nil {
			return nil, fmt.Errorf("format main.jsonnet: %w", err)
		}
		files["main.jsonnet"] = main
	}
	files[importFile] = importMD(parts, skippedAll)
	for _, im := range parts {
		res.Unmanaged += len(im.Unmanaged)
	}
	if err := os.MkdirAll(req.Dir, 0o755); err != nil {
		return nil, err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(req.Dir, name), b, 0o644); err != nil { //nolint:gosec // a repo's files are not secret
			return nil, err
		}
		res.Files = append(res.Files, name)
	}
	slices.Sort(res.Files)
	return res, verify(ctx, reg, req.Dir, parts, repo)
}

// linkMachines makes each resource that enrols a machine (a FreeIPA host)
// depend on the resource that is that machine (its guest), found by name:
// the machine's name equals the host's fqdn or the fqdn's first label
// ("web1" for web1.hetzner.int.mydomain). A name two guests share links
// neither.
func linkMachines(parts []*steps.Imported) {
	machines := map[string][]steps.ID{}
	for _, im := range parts {
		for _, f := range im.Resources {
			if f.Machine != "" && !f.Enrols {
				m := strings.ToLower(f.Machine)
				machines[m] = append(machines[m], f.ID)
			}
		}
	}
	for _, im := range parts {
		for i := range im.Resources {
			f := &im.Resources[i]
			if !f.Enrols || f.Machine == "" {
				continue
			}
			fqdn := strings.ToLower(f.Machine)
			first, _, _ := strings.Cut(fqdn, ".")
			cands := machines[fqdn]
			if first != fqdn {
				cands = append(slices.Clone(cands), machines[first]...)
			}
			if len(cands) == 1 {
				f.SetDependsOn(cands)
			}
		}
	}
}

// CheckSelect refuses a select pattern path.Match cannot use.
func CheckSelect(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("--select %q: %w (path.Match syntax, e.g. 'route53.record/A-*')", p, err)
		}
	}
	return nil
}

// declarable says why a found object cannot be a resource of a repo (its
// name is not a valid resource name, its spec does not decode), or "".
func declarable(reg *steps.Registry, f steps.Found) string {
	doc, err := json.Marshal(map[string]any{"resources": []any{map[string]any{
		"kind": f.ID.Kind, "name": f.ID.Name, "spec": f.Spec, "adopt": true}}})
	if err != nil {
		return err.Error()
	}
	_, ds := pipeline.Decode(reg, "", doc)
	for _, d := range ds {
		if d.Severity != pipeline.SeverityWarning {
			why := "the runner cannot declare it: " + d.Field + " " + d.Summary
			if d.Hint != "" {
				why += " (" + d.Hint + ")"
			}
			return why
		}
	}
	return ""
}

// checker evaluates one found resource's Jsonnet on its own, with its
// file's header, and decodes it as a push would: a resource whose written
// Jsonnet would not give exactly the spec it was read as is left alone
// with the reason, instead of failing the whole import at verify (Jsonnet
// strings cannot hold bytes that are not UTF-8, for one).
type checker struct {
	reg *steps.Registry
	vm  *jsonnet.VM
}

func newChecker(reg *steps.Registry) *checker {
	vm := jsonnet.MakeVM()
	vm.Importer(&dirImporter{cache: map[string]jsonnet.Contents{}}) // the lib only
	for _, v := range []string{"commit", "branch", "pusher"} {
		vm.ExtVar(v, "")
	}
	return &checker{reg: reg, vm: vm}
}

// check says why f's Jsonnet, under header, would not declare f as read
// (adopted, with f.Spec), or "".
func (c *checker) check(header string, f steps.Found) string {
	src := "local runner = import 'runner.libsonnet';\nrunner.output([(\n" + header + "\n[" + f.Jsonnet + "]\n)])\n"
	out, err := c.vm.EvaluateAnonymousSnippet("import-check.jsonnet", src)
	if err != nil {
		return "the Jsonnet the import would write for it does not evaluate: " + err.Error()
	}
	got, ds := pipeline.Decode(c.reg, "import-check.jsonnet", []byte(out))
	if hasErrors(ds) {
		return "the Jsonnet the import would write for it does not decode: " + ds.Error()
	}
	if len(got) != 1 || got[0].ID != f.ID || !got[0].Adopt {
		return "the Jsonnet the import would write for it does not declare it, adopted"
	}
	a, _ := json.Marshal(got[0].Spec)
	b, _ := json.Marshal(f.Spec)
	if !bytes.Equal(a, b) {
		return fmt.Sprintf("the Jsonnet can only give %s, the live object is %s (shown as JSON, which replaces bytes that are not UTF-8 with \\ufffd)", a, b)
	}
	return ""
}

func hasErrors(ds pipeline.Diagnostics) bool {
	return slices.ContainsFunc(ds, func(d pipeline.Diagnostic) bool { return d.Severity != pipeline.SeverityWarning })
}

// selected reports whether id matches one of the patterns (all when none).
func selected(patterns []string, id steps.ID) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, id.String()); ok {
			return true
		}
	}
	return false
}

// emptyDir refuses a directory that has files: an import never overwrites.
func emptyDir(dir string) error {
	if dir == "" {
		return errors.New("no output directory (-o DIR)")
	}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(ents) > 0:
		return fmt.Errorf("%w: %s is not empty: import writes a new repo into an empty directory (it never overwrites files)", ErrBadTarget, dir)
	}
	return nil
}

// backendFile is one backend's file: its header, then its resources as
// one list, grouped under comments.
func backendFile(im *steps.Imported) string {
	var b strings.Builder
	b.WriteString(im.Header)
	b.WriteString("\n[")
	group := ""
	for i, f := range im.Resources {
		if f.Group != group && f.Group != "" {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "\n  // %s", f.Group)
			group = f.Group
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "  %s,", f.Jsonnet)
	}
	b.WriteString("\n]\n")
	return b.String()
}

// mainFile is main.jsonnet: every backend file, through runner.output.
func mainFile(imports []string) string {
	var b strings.Builder
	b.WriteString("// The infra repo, imported from the live state by `runner import`;\n")
	b.WriteString("// every resource is adopted (see IMPORT.md for what was left alone).\n")
	b.WriteString("local runner = import 'runner.libsonnet';\n\nrunner.output([\n")
	for _, f := range imports {
		fmt.Fprintf(&b, "  import %s,\n", steps.JsonnetValue(f))
	}
	b.WriteString("])\n")
	return b.String()
}

// format is go-jsonnet's formatter (jsonnetfmt) with its defaults.
func format(name, src string) ([]byte, error) {
	out, err := formatter.Format(name, src, formatter.DefaultOptions())
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// importMD lists what was left alone and why.
func importMD(parts []*steps.Imported, skipped []string) []byte {
	var b bytes.Buffer
	b.WriteString("# Imported by `runner import`\n\n")
	b.WriteString("Every resource in this repo is declared with `adopt: true`: the first deployment takes over the live objects as they are and changes nothing.\n")
	var un, confirm []steps.Unmanaged
	for _, im := range parts {
		un = append(un, im.Unmanaged...)
		confirm = append(confirm, im.Confirm...)
	}
	if len(confirm) > 0 {
		b.WriteString("\n## To confirm\n\nThe services do not record these values, so the import chose them. The first deployment does not use them (it changes nothing); they matter only when the object is made anew. Check each, and correct the repo where the choice is wrong.\n\n")
		b.WriteString("| where | why | what to do |\n| --- | --- | --- |\n")
		for _, u := range confirm {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mdCell(u.Where), mdCell(u.Why), mdCell(u.Then))
		}
	}
	if len(skipped) > 0 {
		b.WriteString("\n## Declared already\n\nThe repo this import was added to declares these; they were not written again.\n\n")
		for _, s := range skipped {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	if len(un) == 0 {
		b.WriteString("\nNothing was left out: the runner manages everything it read.\n")
		return b.Bytes()
	}
	b.WriteString("\n## Left alone\n\nThese live objects, or parts of them, are not in the repo; the runner does not manage them.\n\n")
	b.WriteString("| where | why | what the runner does |\n| --- | --- | --- |\n")
	for _, u := range un {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", mdCell(u.Where), mdCell(u.Why), mdCell(u.Then))
	}
	return b.Bytes()
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// verify evaluates the written repo and checks that it declares exactly
// the resources found, each adopted and with the spec it was read as.
func verify(ctx context.Context, reg *steps.Registry, dir string, parts []*steps.Imported, repo *existing) error {
	out, err := evalDir(dir)
	if err != nil {
		return fmt.Errorf("verify the import in %s: it does not evaluate (a bug in runner import): %w", dir, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	got, ds := pipeline.Decode(reg, "main.jsonnet", []byte(out))
	if hasErrors(ds) {
		return fmt.Errorf("verify the import in %s: it does not decode (a bug in runner import): %w", dir, ds)
	}
	want := map[steps.ID]steps.Spec{}
	deps := map[steps.ID][]steps.ID{}
	for _, im := range parts {
		for _, f := range im.Resources {
			want[f.ID] = f.Spec
			deps[f.ID] = f.DependsOn
		}
	}
	var bad []string
	for _, r := range got {
		w, ok := want[r.ID]
		switch {
		case !ok && repo.declares(r):
			delete(repo.specs, r.ID)
			continue
		case !ok:
			bad = append(bad, r.ID.String()+": written but not read")
		case !r.Adopt:
			bad = append(bad, r.ID.String()+": not adopted")
		case !slices.Equal(r.DependsOn, deps[r.ID]):
			bad = append(bad, fmt.Sprintf("%s: the Jsonnet depends on %v, the import found %v", r.ID, r.DependsOn, deps[r.ID]))
		default:
			a, _ := json.Marshal(r.Spec)
			b, _ := json.Marshal(w)
			if !bytes.Equal(a, b) {
				bad = append(bad, fmt.Sprintf("%s: the Jsonnet gives %s, the live object is %s", r.ID, a, b))
			}
		}
		delete(want, r.ID)
	}
	for id := range want {
		bad = append(bad, id.String()+": read but not written")
	}
	if repo != nil {
		for id := range repo.specs {
			bad = append(bad, id.String()+": declared by the repo before, missing after the import")
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("verify the import in %s: %d resources would not plan clean (a bug in runner import; the files are kept):\n  %s",
			dir, len(bad), strings.Join(bad, "\n  "))
	}
	return nil
}

// evalDir evaluates a repo's main.jsonnet in dir as a push would (the
// ext vars a push sets are empty).
func evalDir(dir string) (string, error) {
	vm := jsonnet.MakeVM()
	vm.Importer(&dirImporter{dir: dir, cache: map[string]jsonnet.Contents{}})
	for _, v := range []string{"commit", "branch", "pusher"} {
		vm.ExtVar(v, "")
	}
	return vm.EvaluateFile("main.jsonnet")
}

// dirImporter resolves imports in the output directory, then in the
// runner's lib, as a push of the repo would; with no dir, in the lib only.
type dirImporter struct {
	dir   string
	cache map[string]jsonnet.Contents // go-jsonnet wants one Contents per path
}

// Import implements jsonnet.Importer.
func (d *dirImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	p := path.Clean(path.Join(path.Dir(importedFrom), importedPath))
	if strings.HasPrefix(importedFrom, "lib/") {
		p = "lib/" + path.Clean(importedPath)
	}
	if c, ok := d.cache[p]; ok {
		return c, p, nil
	}
	b, err := []byte(nil), fs.ErrNotExist
	if d.dir != "" { // "": the lib only
		b, err = os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(p))) //nolint:gosec // the directory we just wrote
	}
	if err != nil {
		p = "lib/" + path.Clean(importedPath)
		if c, ok := d.cache[p]; ok {
			return c, p, nil
		}
		if b, err = fs.ReadFile(lib.FS, path.Clean(importedPath)); err != nil {
			return jsonnet.Contents{}, "", fmt.Errorf("import %q: not in %s nor in the runner's lib", importedPath, d.dir)
		}
	}
	c := jsonnet.MakeContentsRaw(b)
	d.cache[p] = c
	return c, p, nil
}
