package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
)

// Observe asks every backend, concurrently, for the live state of its
// targets. Every backend that fails is reported (one diagnostic each, naming
// its resources), not only the first; the others still finish.
func Observe(ctx context.Context, reg *steps.Registry, targets []steps.Target) (map[steps.ID]steps.Live, Diagnostics) {
	byBackend := map[steps.Backend][]steps.Target{}
	for _, t := range targets {
		b, _ := reg.Backend(t.ID.Kind)
		byBackend[b] = append(byBackend[b], t)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ds      Diagnostics
		results []map[steps.ID]steps.Live
	)
	for _, b := range reg.Backends() {
		ts := byBackend[b]
		if len(ts) == 0 {
			continue
		}
		wg.Go(func() {
			m, err := b.Observe(ctx, ts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ds = append(ds, Diagnostic{Resource: resourceList(ts), Summary: fmt.Sprintf("observe %s: %s", b.Name(), err),
					Hint: "check the backend's endpoint and credentials in the runner config; nothing was applied"})
				return
			}
			results = append(results, m)
		})
	}
	wg.Wait()
	if len(ds) > 0 {
		sortDiagnostics(ds)
		return nil, ds
	}
	live := make(map[steps.ID]steps.Live, len(targets))
	for _, m := range results {
		for id, l := range m {
			if l != nil {
				live[id] = l
			}
		}
	}
	return live, nil
}

// resourceList names a backend's targets for a diagnostic: all of them up to
// five, then a count.
func resourceList(ts []steps.Target) string {
	const most = 5
	var names []string
	for i, t := range ts {
		if i == most {
			names = append(names, fmt.Sprintf("and %d more", len(ts)-most))
			break
		}
		names = append(names, t.ID.String())
	}
	return fmt.Sprintf("%d resources (%s)", len(ts), strings.Join(names, ", "))
}

// backendWarnings collects the backends' standing warnings (steps.Warner).
func (r *Runner) backendWarnings() []string {
	var out []string
	for _, b := range r.Registry.Backends() {
		if w, ok := b.(steps.Warner); ok {
			for _, msg := range w.Warnings() {
				out = append(out, b.Name()+": "+r.Redact(msg))
			}
		}
	}
	return out
}

// liveSummary is what the backends summarize of the live world for
// policies (steps.LiveSummarizer), keyed by backend name.
func (r *Runner) liveSummary() map[string]any {
	out := map[string]any{}
	for _, b := range r.Registry.Backends() {
		if s, ok := b.(steps.LiveSummarizer); ok {
			out[b.Name()] = s.LiveSummary()
		}
	}
	return out
}

// keptLive is implemented by live states a backend took from a read of an
// earlier run instead of reading them in this one
// (steps.ObserveOptions.Dir): KeptSince is when that read was made.
type keptLive interface {
	KeptSince() time.Time
}

// keptSince is when l was read, if it was not read live in this run; zero
// when it was (or when l is nil).
func keptSince(l steps.Live) time.Time {
	if k, ok := l.(keptLive); ok && l != nil {
		return k.KeptSince()
	}
	return time.Time{}
}

// observeOptions are the observe options of a run: reads may be skipped
// (where the backend keeps its reads in dir) unless the run is a drift
// check or asks for a full refresh.
func (r *Runner) observeOptions(req Request) steps.ObserveOptions {
	return steps.ObserveOptions{Dir: r.ObserveCache, Full: req.Kind == KindDrift || req.Refresh == RefreshFull}
}

// keptChanges counts the changes of plan computed from a live state that
// was not read in this run: a plan may change nothing that was not read
// live (prepare observes everything again when this is not zero). A plan
// that failed (ds) counts every kept state, since a stale read may be why.
func keptChanges(plan *steps.Plan, live map[steps.ID]steps.Live, ds Diagnostics) int {
	n := 0
	if len(ds) > 0 || plan == nil {
		for _, l := range live {
			if !keptSince(l).IsZero() {
				n++
			}
		}
		return n
	}
	for _, c := range plan.Changes {
		if c.Action != steps.NoOp && !keptSince(c.Have).IsZero() {
			n++
		}
	}
	return n
}

// observedSummary says how many of the live states behind a plan were read
// in this run and how many came from a kept read, the oldest of when; it
// marks each plan entry whose state was kept.
func observedSummary(plan *steps.Plan, entries []PlanEntry) *Observed {
	o := &Observed{}
	kept := map[string]time.Time{}
	for _, c := range plan.Changes {
		if c.Have == nil {
			continue
		}
		at := keptSince(c.Have)
		if at.IsZero() {
			o.Live++
			continue
		}
		o.Cached++
		kept[c.ID.String()] = at.UTC()
		if o.CachedSince == nil || at.Before(*o.CachedSince) {
			t := at.UTC()
			o.CachedSince = &t
		}
	}
	for i := range entries {
		if at, ok := kept[entries[i].ID]; ok {
			entries[i].CachedSince = &at
		}
	}
	return o
}
