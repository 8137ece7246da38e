package dnsmasq

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Live is what a site's file holds for one resource: the lines with its
// keys (see lineKey), in file order. Old is the same for the site the
// resource was last applied to, when it moved to another site. Unknown,
// when set, says why the site's file could not be read in this run ("site
// flat2 unreachable: …"): Lines are then unknown, not empty, and Diff
// blocks the change.
type Live struct {
	Site    string   `json:"site"`
	File    string   `json:"file"`
	Lines   []string `json:"lines"`
	Old     *Live    `json:"old,omitempty"`
	Unknown string   `json:"unknown,omitempty"`
}

// siteFile names one file of one site.
type siteFile struct {
	site string
	f    file
}

// Observe implements steps.Backend: it reads the files the targets touch
// once (one read per site, sites in parallel) and returns each target's
// lines. A target without lines is absent. A site that cannot be read (its
// host is down, SSH refused) does not fail the run: its targets are
// observed as Unknown, and Diff blocks their changes, so the other sites
// plan and apply. Observe fails only when every site it needs failed, or
// on an error of the targets themselves. A target last applied to a site
// that is no longer configured is Unknown too (see unconfigured).
func (b *Backend) Observe(ctx context.Context, targets []steps.Target) (map[steps.ID]steps.Live, error) {
	if b.sites == nil {
		if len(targets) == 0 {
			return map[steps.ID]steps.Live{}, nil
		}
		return nil, ErrNotConfigured
	}
	need := map[siteFile]bool{}
	for _, t := range targets {
		if t.Want != nil {
			if _, err := b.site(siteOf(t.Want)); err != nil {
				return nil, fmt.Errorf("%s: %w", t.ID, err)
			}
		}
		for _, spec := range []steps.Spec{t.Want, t.Last} {
			if spec == nil || b.sites[siteOf(spec)] == nil {
				continue
			}
			need[siteFile{siteOf(spec), fileOf(t.ID.Kind)}] = true
		}
	}
	byFile, failed, err := b.readFiles(ctx, need)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.unknown = failed
	b.mu.Unlock()
	out := map[steps.ID]steps.Live{}
	for _, t := range targets {
		f := fileOf(t.ID.Kind)
		var ks []string
		for _, spec := range []steps.Spec{t.Want, t.Last} {
			if spec != nil {
				ks = append(ks, keys(spec)...)
			}
		}
		var live *Live
		if want := t.Want; want != nil {
			// An unread site gives no lines: a desired resource that is
			// not the runner's yet must not look as if it existed; Diff
			// finds the site in b.unknown.
			live = b.find(siteOf(want), f, byFile[siteFile{siteOf(want), f}], ks)
		}
		if last := t.Last; last != nil && (t.Want == nil || siteOf(last) != siteOf(t.Want)) {
			var old *Live
			site := siteOf(last)
			switch why, bad := failed[site]; {
			case b.sites[site] == nil:
				old = &Live{Site: site, Unknown: unconfigured(site)}
			case bad:
				old = &Live{Site: site, File: b.sites[site].path(f), Unknown: why}
			default:
				old = b.find(site, f, byFile[siteFile{site, f}], ks)
			}
			switch {
			case t.Want == nil:
				live = old
			case old != nil:
				if live == nil {
					live = &Live{Site: siteOf(t.Want), File: b.sites[siteOf(t.Want)].path(f)}
				}
				live.Old = old
			}
		}
		if live != nil {
			out[t.ID] = live
		}
	}
	return out, nil
}

// unconfigured is why the lines of a resource on a site that left
// backends.dnsmasq.sites cannot be known, and what to do about it.
func unconfigured(site string) string {
	return fmt.Sprintf("site %s is no longer in backends.dnsmasq.sites of the runner config, so its lines cannot be removed: "+
		"put the site back into the config for one run and the runner removes them (if its dnsmasq is gone for good, "+
		"give it local files that do not exist, e.g. under /tmp: then there is nothing to remove); after that run the site can leave the config", site)
}

// readFiles reads the needed files, one read per site (one remote command
// over SSH), sites in parallel. failed maps a site whose read failed to
// "site X unreachable: <error>"; err is set when every site failed.
func (b *Backend) readFiles(ctx context.Context, need map[siteFile]bool) (byFile map[siteFile][]string, failed map[string]string, err error) {
	files := make([]siteFile, 0, len(need))
	for sf := range need {
		files = append(files, sf)
	}
	sort.Slice(files, func(i, j int) bool {
		if files[i].site != files[j].site {
			return files[i].site < files[j].site
		}
		return files[i].f < files[j].f
	})
	bySite := map[string][]siteFile{}
	var siteOrder []string
	for _, sf := range files {
		if len(bySite[sf.site]) == 0 {
			siteOrder = append(siteOrder, sf.site)
		}
		bySite[sf.site] = append(bySite[sf.site], sf)
	}
	byFile = map[siteFile][]string{}
	failed = map[string]string{}
	errs := map[string]error{}
	var mu sync.Mutex
	var g errgroup.Group // not WithContext: one site's failure does not cancel the others' reads
	g.SetLimit(8)
	for _, name := range siteOrder {
		g.Go(func() error {
			s := b.sites[name]
			var paths []string
			for _, sf := range bySite[name] {
				paths = append(paths, s.path(sf.f))
			}
			data, err := s.tr.read(ctx, paths)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				err = fmt.Errorf("read %s (%s): %w", strings.Join(paths, ", "), s.tr.where(), err)
				failed[name] = fmt.Sprintf("site %s unreachable: %v", name, err)
				errs[name] = fmt.Errorf("site %s: %w", name, err)
				return nil
			}
			for i, sf := range bySite[name] {
				byFile[sf] = splitLines(data[i])
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error: failures are in failed
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	if len(siteOrder) > 0 && len(failed) == len(siteOrder) {
		all := make([]error, 0, len(siteOrder))
		for _, name := range siteOrder {
			all = append(all, errs[name])
		}
		return nil, nil, errors.Join(all...)
	}
	return byFile, failed, nil
}

// find returns the lines of content with one of ks, nil when there are none.
func (b *Backend) find(site string, f file, content []string, ks []string) *Live {
	var ls []string
	for _, l := range content {
		k := lineKey(f, l)
		for _, want := range ks {
			if k != "" && k == want {
				ls = append(ls, l)
				break
			}
		}
	}
	if len(ls) == 0 {
		return nil
	}
	return &Live{Site: site, File: b.sites[site].path(f), Lines: ls}
}
