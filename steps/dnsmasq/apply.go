package dnsmasq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

// batchWindow is how long the first change of a file waits for more
// changes of the same file before it rewrites it: the changes of one run
// arrive together, and one rewrite (one dnsmasq --test, one reload) then
// serves them all.
const batchWindow = 20 * time.Millisecond

// maxParallel bounds the changes of this backend in flight at once; they
// mostly wait in a batch.
const maxParallel = 256

// MaxParallel implements steps.ParallelApplier: Apply only queues an edit
// into its file's batch, so many may be in flight at once.
func (b *Backend) MaxParallel() int { return maxParallel }

// batch is the edits of one file that one rewrite applies.
type batch struct {
	edits []fileEdit
	logs  []steps.Progress // each change's progress, told of the rewrite
	done  chan struct{}
	err   error
}

// Apply implements steps.Backend. Each edit of the change joins the batch
// of its site's file; the first edit of a batch waits batchWindow for more,
// then rewrites the file once for all of them while holding the site's
// lock: it reads the file again, drops the resources' old lines and appends
// their new ones, checks the result with `dnsmasq --test` against the
// site's configuration, writes it next to the file, renames it into place
// and makes dnsmasq re-read it. A file whose content would not change is
// left alone and dnsmasq is not reloaded. An error of the rewrite is the
// error of every change in the batch.
func (b *Backend) Apply(ctx context.Context, c steps.Change, p steps.Progress) (json.RawMessage, error) {
	edits, _ := c.Detail.([]fileEdit)
	for _, e := range edits {
		s, err := b.site(e.site)
		if err != nil {
			return nil, err
		}
		if err := s.queue(ctx, e, p); err != nil {
			return nil, fmt.Errorf("site %s: %w", e.site, err)
		}
	}
	return nil, nil
}

// queue adds e to its file's batch and returns the batch's outcome.
func (s *Site) queue(ctx context.Context, e fileEdit, p steps.Progress) error {
	s.bmu.Lock()
	if s.batches == nil {
		s.batches = map[file]*batch{}
	}
	bt := s.batches[e.f]
	leader := bt == nil
	if leader {
		bt = &batch{done: make(chan struct{})}
		s.batches[e.f] = bt
	}
	bt.edits = append(bt.edits, e)
	bt.logs = append(bt.logs, p)
	s.bmu.Unlock()
	if !leader {
		select {
		case <-bt.done:
			return bt.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t := time.NewTimer(batchWindow)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	s.bmu.Lock()
	delete(s.batches, e.f)
	edits, logs := bt.edits, bt.logs
	s.bmu.Unlock()
	if err := ctx.Err(); err != nil {
		bt.err = err
	} else {
		bt.err = s.rewrite(ctx, e.f, edits, logs)
	}
	close(bt.done)
	return bt.err
}

// rewrite applies edits to the site's file f, in order, in one
// replacement.
func (s *Site) rewrite(ctx context.Context, f file, edits []fileEdit, logs []steps.Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	target := s.path(f)
	old, err := s.tr.read(ctx, []string{target})
	if err != nil {
		return fmt.Errorf("read %s (%s): %w", target, s.tr.where(), err)
	}
	content := old[0]
	for _, e := range edits {
		content, _ = edit(content, f, e.drop, e.add)
	}
	if string(content) == string(old[0]) {
		if !s.reloadOwed {
			return nil
		}
		// The file is in place from an earlier attempt whose reload
		// failed: reload now, or dnsmasq keeps serving the old file.
		if err := s.reload(ctx); err != nil {
			return steps.Transient(&ReloadError{err})
		}
		s.reloadOwed = false
		for _, p := range logs {
			p.Printf("dnsmasq %s: %s was in place already; reloaded dnsmasq (%s)", s.Domain, target, s.tr.where())
		}
		return nil
	}
	// dnsmasq --test checks only configuration files, not the files
	// --addn-hosts, --dhcp-hostsfile and --servers-file name: the new
	// lines go to it as configuration (see checkConf).
	err = s.tr.install(ctx, installation{
		path: target, content: content, check: []byte(checkConf(f, content)),
		test:    []string{s.Dnsmasq, "--test", "--conf-file=" + s.ConfFile},
		pidFile: s.PidFile, reload: s.Reload, what: f.option(),
	})
	var re *ReloadError
	s.reloadOwed = errors.As(err, &re)
	if err != nil {
		return fmt.Errorf("replace %s (%s): %w", target, s.tr.where(), err)
	}
	// dnsmasq(8), NOTES: "When it receives a SIGHUP, dnsmasq clears its
	// cache and then re-loads /etc/hosts and /etc/ethers and any file given
	// by --dhcp-hostsfile, --dhcp-hostsdir, --dhcp-optsfile, --dhcp-optsdir,
	// --addn-hosts or --hostsdir"; and of --servers-file: "the file is
	// re-read and the configuration therein is updated when dnsmasq
	// receives SIGHUP".
	for _, p := range logs {
		p.Printf("dnsmasq %s: replaced %s (%s; %d change(s) in one rewrite) and reloaded dnsmasq", s.Domain, target, s.tr.where(), len(edits))
	}
	return nil
}

// reload makes dnsmasq re-read its files: the reload command, or SIGHUP to
// the process in the pid file (through sh, on the site's host).
func (s *Site) reload(ctx context.Context) error {
	argv := s.Reload
	if len(argv) == 0 {
		argv = []string{"sh", "-c", `kill -HUP "$(cat -- "$1")"`, "sh", s.PidFile}
	}
	_, err := s.tr.run(ctx, argv)
	return err
}
