package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/importer"
	"github.com/gitops-runner/gitops-runner/steps"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

var _ flag.Value = (*listFlag)(nil)

// cmdImport writes an infra repo from what lives in the configured
// backends: the way to move an existing homelab in (see README, "Moving an
// existing homelab in").
func cmdImport(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "import")
	var zones, sel listFlag
	f.fs.Var(&zones, "route53", "import the record sets of this hosted `zone` (repeatable; '*': every public zone the credentials see)")
	pve := f.fs.Bool("proxmox", false, "import the Proxmox VE guests (LXC containers and VMs, not templates)")
	ipa := f.fs.Bool("freeipa", false, "import FreeIPA's hosts, host groups, services, users, groups and sudo rules")
	certs := f.fs.String("certs", "", "import the certificates certbot keeps in this configuration `directory` (e.g. /etc/letsencrypt: live/, renewal/); it must be inside backends.acme.certRoot")
	f.fs.Var(&sel, "select", "keep only resources whose kind/name matches this `pattern` (path.Match syntax, repeatable)")
	out := f.fs.String("o", "", "write the repo into this new or empty `directory`")
	into := f.fs.String("into", "", "add to the infra repo checked out in this `work tree` only what it does not declare yet, in new files its main.jsonnet imports")
	if err := f.parseNoArgs(args); err != nil {
		return err
	}
	switch {
	case *out == "" && *into == "":
		return usagef("import needs -o DIR, an empty directory for the new repo (or --into WORKTREE to add to a repo)")
	case *out != "" && *into != "":
		return usagef("import writes a new repo (-o DIR) or adds to one (--into WORKTREE), not both")
	}
	if err := importer.CheckSelect(sel); err != nil {
		return usageError{err.Error()}
	}
	cfg := config.Default()
	if e.configFile != "" {
		c, err := config.Load(e.configFile)
		if err != nil {
			return exitError{exitUsage, err}
		}
		cfg = c
	}
	red := &steps.Redactor{}
	reg, err := e.registry(cfg, red)
	if err != nil {
		return exitError{exitUsage, err}
	}
	var req importer.Request
	if *pve {
		src, err := importSource(reg, "proxmox", nil)
		if err != nil {
			return err
		}
		req.Sources = append(req.Sources, src)
	}
	if len(zones) > 0 {
		if zones[0] == "*" {
			zones = nil
		}
		src, err := importSource(reg, "route53", zones)
		if err != nil {
			return err
		}
		req.Sources = append(req.Sources, src)
	}
	if *ipa {
		src, err := importSource(reg, "freeipa", nil)
		if err != nil {
			return err
		}
		req.Sources = append(req.Sources, src)
	}
	if *certs != "" {
		src, err := importSource(reg, "acme", []string{*certs})
		if err != nil {
			return err
		}
		req.Sources = append(req.Sources, src)
	}
	if len(req.Sources) == 0 {
		return usagef("nothing to import: name what to read, e.g. --proxmox, --route53 mydomain.com, --freeipa or --certs /etc/letsencrypt")
	}
	req.Select, req.Dir, req.Into = sel, *out, *into
	req.Progress = func(format string, args ...any) { fmt.Fprintf(e.stderr, "runner import: "+format+"\n", args...) }
	res, err := importer.Run(ctx, reg, req)
	if errors.Is(err, steps.ErrNotConfigured) || errors.Is(err, importer.ErrNothingSelected) || errors.Is(err, importer.ErrBadTarget) {
		return exitError{exitUsage, err} // what the command line asked for cannot be read or written
	}
	if err != nil {
		return exitError{exitFailed, err}
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d resources, all adopted (%s)", *out+*into, res.Resources, strings.Join(res.Files, ", "))
	if res.Unmanaged > 0 {
		fmt.Fprintf(e.stdout, "; %d live objects left alone, listed in IMPORT.md", res.Unmanaged)
	}
	fmt.Fprintln(e.stdout)
	if len(res.Skipped) > 0 {
		fmt.Fprintf(e.stdout, "skipped %d resources the repo declares already: %s\n", len(res.Skipped), strings.Join(res.Skipped, ", "))
	}
	fmt.Fprintf(e.stdout, "Next: commit it into the infra repo and run `runner plan` — it shows 0 changes.\n")
	return nil
}

// importSource finds the backend of that name in reg as an importer.
func importSource(reg *steps.Registry, name string, where []string) (importer.Source, error) {
	for _, b := range reg.Backends() {
		if b.Name() != name {
			continue
		}
		im, ok := b.(steps.Importer)
		if !ok {
			return importer.Source{}, exitError{exitUsage, fmt.Errorf("the %s backend cannot import yet", name)}
		}
		return importer.Source{Backend: im, Name: name, Where: where}, nil
	}
	return importer.Source{}, exitError{exitUsage, fmt.Errorf("no %s backend in this runner", name)}
}
