package dnsmasq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Suffixes of the files Apply writes next to a file it replaces.
const (
	newSuffix   = ".runner-new"        // the new content, renamed into place
	checkSuffix = ".runner-check.conf" // the new lines as configuration, for dnsmasq --test
)

// Apply implements steps.Backend. Each edit of the change rewrites one
// site's file while holding the site's lock (so concurrent changes of one
// site do not lose each other's lines): it reads the file again, drops the
// resource's old lines and appends its new ones, writes the result next to
// the file (<file>.runner-new), checks it with `dnsmasq --test` against the
// site's configuration, renames it into place and makes dnsmasq re-read it.
// A file whose content would not change is left alone and dnsmasq is not
// reloaded.
func (b *Backend) Apply(ctx context.Context, c steps.Change, p steps.Progress) (json.RawMessage, error) {
	edits, _ := c.Detail.([]fileEdit)
	for _, e := range edits {
		s, err := b.site(e.site)
		if err != nil {
			return nil, err
		}
		if err := s.rewrite(ctx, e, p); err != nil {
			return nil, fmt.Errorf("site %s: %w", e.site, err)
		}
	}
	return nil, nil
}

// rewrite applies one edit to the site's file.
func (s *Site) rewrite(ctx context.Context, e fileEdit, p steps.Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	target := s.path(e.f)
	old, err := s.tr.read(ctx, target)
	if err != nil {
		return fmt.Errorf("read %s (%s): %w", target, s.tr.where(), err)
	}
	content, changed := edit(old, e.f, e.drop, e.add)
	if !changed {
		return nil
	}
	tmp, check := target+newSuffix, target+checkSuffix
	if err := s.tr.write(ctx, tmp, content); err != nil {
		return fmt.Errorf("write %s (%s): %w", tmp, s.tr.where(), err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = s.tr.remove(context.WithoutCancel(ctx), tmp)
		}
	}()
	if err := s.test(ctx, e.f, content, check); err != nil {
		return err
	}
	if err := s.tr.rename(ctx, tmp, target); err != nil {
		return fmt.Errorf("rename %s to %s (%s): %w", tmp, target, s.tr.where(), err)
	}
	ok = true
	p.Printf("dnsmasq %s: wrote %s (%s)", s.Domain, target, s.tr.where())
	if err := s.reload(ctx); err != nil {
		// The file is in place: the next reload (or restart) of dnsmasq
		// serves it. Retrying rewrites nothing and reloads again.
		return steps.Transient(err)
	}
	return nil
}

// test runs `dnsmasq --test` with the site's configuration and the new
// lines given as configuration: dnsmasq --test checks only configuration
// files, not the files --addn-hosts, --dhcp-hostsfile and --servers-file
// name (see checkConf).
func (s *Site) test(ctx context.Context, f file, content []byte, check string) error {
	if err := s.tr.write(ctx, check, []byte(checkConf(f, content))); err != nil {
		return fmt.Errorf("write %s (%s): %w", check, s.tr.where(), err)
	}
	defer func() { _ = s.tr.remove(context.WithoutCancel(ctx), check) }()
	argv := []string{s.Dnsmasq, "--test", "--conf-file=" + s.ConfFile, "--conf-file=" + check}
	if _, err := s.tr.run(ctx, argv); err != nil {
		var ce *commandError
		if errors.As(err, &ce) {
			return fmt.Errorf("dnsmasq --test refused the new %s (nothing was changed): %w", f.option(), err)
		}
		return fmt.Errorf("run dnsmasq --test (%s): %w", s.tr.where(), err)
	}
	return nil
}

// reload makes dnsmasq re-read the files: SIGHUP to the process in the pid
// file, or the configured command. dnsmasq(8), NOTES: "When it receives a
// SIGHUP, dnsmasq clears its cache and then re-loads /etc/hosts and
// /etc/ethers and any file given by --dhcp-hostsfile, --dhcp-hostsdir,
// --dhcp-optsfile, --dhcp-optsdir, --addn-hosts or --hostsdir"; and of
// --servers-file: "the file is re-read and the configuration therein is
// updated when dnsmasq receives SIGHUP".
func (s *Site) reload(ctx context.Context) error {
	if len(s.Reload) > 0 {
		if _, err := s.tr.run(ctx, s.Reload); err != nil {
			return fmt.Errorf("reload dnsmasq (%s): %w", s.tr.where(), err)
		}
		return nil
	}
	if err := s.tr.hup(ctx, s.PidFile); err != nil {
		return fmt.Errorf("reload dnsmasq (%s): %w", s.tr.where(), err)
	}
	return nil
}
