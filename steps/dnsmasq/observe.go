package dnsmasq

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Live is what a site's file holds for one resource: the lines with its
// keys (see lineKey), in file order. Old is the same for the site the
// resource was last applied to, when it moved to another site.
type Live struct {
	Site  string   `json:"site"`
	File  string   `json:"file"`
	Lines []string `json:"lines"`
	Old   *Live    `json:"old,omitempty"`
}

// siteFile names one file of one site.
type siteFile struct {
	site string
	f    file
}

// Observe implements steps.Backend: it reads the files the targets touch
// once (one read per site, sites in parallel) and returns
// each target's lines. A target without lines is absent.
func (b *Backend) Observe(ctx context.Context, targets []steps.Target) (map[steps.ID]steps.Live, error) {
	if b.sites == nil {
		if len(targets) == 0 {
			return map[steps.ID]steps.Live{}, nil
		}
		return nil, ErrNotConfigured
	}
	need := map[siteFile]bool{}
	for _, t := range targets {
		for _, spec := range []steps.Spec{t.Want, t.Last} {
			if spec == nil {
				continue
			}
			if _, err := b.site(siteOf(spec)); err != nil {
				return nil, fmt.Errorf("%s: %w", t.ID, err)
			}
			need[siteFile{siteOf(spec), fileOf(t.ID.Kind)}] = true
		}
	}
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
	// One read per site (one remote command over SSH), sites in parallel.
	bySite := map[string][]siteFile{}
	var siteOrder []string
	for _, sf := range files {
		if len(bySite[sf.site]) == 0 {
			siteOrder = append(siteOrder, sf.site)
		}
		bySite[sf.site] = append(bySite[sf.site], sf)
	}
	byFile := map[siteFile][]string{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, name := range siteOrder {
		g.Go(func() error {
			s := b.sites[name]
			var paths []string
			for _, sf := range bySite[name] {
				paths = append(paths, s.path(sf.f))
			}
			data, err := s.tr.read(gctx, paths)
			if err != nil {
				return fmt.Errorf("site %s: read %s (%s): %w", name, strings.Join(paths, ", "), s.tr.where(), err)
			}
			mu.Lock()
			defer mu.Unlock()
			for i, sf := range bySite[name] {
				byFile[sf] = splitLines(data[i])
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
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
			live = b.find(siteOf(want), f, byFile[siteFile{siteOf(want), f}], ks)
		}
		if last := t.Last; last != nil && (t.Want == nil || siteOf(last) != siteOf(t.Want)) {
			old := b.find(siteOf(last), f, byFile[siteFile{siteOf(last), f}], ks)
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
