package dnsmasq

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gitops-runner/gitops-runner/steps"
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
	old, err := s.tr.read(ctx, []string{target})
	if err != nil {
		return fmt.Errorf("read %s (%s): %w", target, s.tr.where(), err)
	}
	content, changed := edit(old[0], e.f, e.drop, e.add)
	if !changed {
		return nil
	}
	// dnsmasq --test checks only configuration files, not the files
	// --addn-hosts, --dhcp-hostsfile and --servers-file name: the new
	// lines go to it as configuration (see checkConf).
	err = s.tr.install(ctx, installation{
		path: target, content: content, check: []byte(checkConf(e.f, content)),
		test:    []string{s.Dnsmasq, "--test", "--conf-file=" + s.ConfFile},
		pidFile: s.PidFile, reload: s.Reload, what: e.f.option(),
	})
	if err != nil {
		return fmt.Errorf("replace %s (%s): %w", target, s.tr.where(), err)
	}
	// dnsmasq(8), NOTES: "When it receives a SIGHUP, dnsmasq clears its
	// cache and then re-loads /etc/hosts and /etc/ethers and any file given
	// by --dhcp-hostsfile, --dhcp-hostsdir, --dhcp-optsfile, --dhcp-optsdir,
	// --addn-hosts or --hostsdir"; and of --servers-file: "the file is
	// re-read and the configuration therein is updated when dnsmasq
	// receives SIGHUP".
	p.Printf("dnsmasq %s: replaced %s (%s) and reloaded dnsmasq", s.Domain, target, s.tr.where())
	return nil
}
