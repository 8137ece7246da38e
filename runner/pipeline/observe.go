package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"

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
