package dnsmasq_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
)

// hostTargets are n host records on flat1 (10.18.2.10 and up), created.
func hostTargets(t testing.TB, b *dnsmasq.Backend, n int) []steps.Target {
	ts := make([]steps.Target, n)
	for i := range ts {
		spec, err := b.Decode(dnsmasq.KindHost, []byte(fmt.Sprintf(`{"site": "flat1", "name": "h%d.flat1.int.mydomain", "ipv4": "10.18.2.%d"}`, i, 10+i)))
		if err != nil {
			t.Fatal(err)
		}
		ts[i] = steps.Target{ID: steps.ID{Kind: dnsmasq.KindHost, Name: fmt.Sprintf("h%d", i)}, Want: spec}
	}
	return ts
}

// applyAll observes, diffs and applies targets the way the executor does:
// up to the backend's MaxParallel at once (the executor's default of 4
// without it).
func applyAll(t testing.TB, b *dnsmasq.Backend, ts []steps.Target) {
	live, err := b.Observe(t.Context(), ts)
	if err != nil {
		t.Fatal(err)
	}
	limit := 4
	if pa, ok := steps.Backend(b).(steps.ParallelApplier); ok {
		limit = pa.MaxParallel()
	}
	sem := make(chan struct{}, limit)
	errs := make(chan error, len(ts))
	for _, tg := range ts {
		c, err := b.Diff(tg, live[tg.ID])
		if err != nil {
			t.Fatal(err)
		}
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := b.Apply(t.Context(), c, discard{})
			errs <- err
		}()
	}
	for range ts {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Printf(string, ...any) {}

// 100 host records created on one site in one run: every line lands, and
// dnsmasq re-reads the file far fewer times than there are changes.
func TestManyChangesOneSite(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	flat1 := l.site("flat1")
	b := l.backend()
	applyAll(t, b, hostTargets(t, b, 100))
	hosts := read(t, flat1.hosts)
	for i := range 100 {
		if !strings.Contains(hosts, fmt.Sprintf("\n10.18.2.%d h%d.flat1.int.mydomain\n", 10+i, i)) {
			t.Fatalf("h%d missing:\n%s", i, hosts)
		}
	}
	l.waitAnswerAt([]*labSite{flat1}, "h99.flat1.int.mydomain", 1, "10.18.2.109")
	reloads := strings.Count(read(t, flat1.log), "read "+flat1.hosts)
	t.Logf("100 changes, %d reloads of dnsmasq", reloads)
	if reloads > 10 {
		t.Errorf("dnsmasq re-read its hosts file %d times for 100 changes", reloads)
	}
}

// BenchmarkCreate100Hosts: 100 host records on one site, applied with a
// real dnsmasq --test and SIGHUP (files emptied between iterations).
func BenchmarkCreate100Hosts(b *testing.B) {
	l := newLab(b)
	flat1 := l.site("flat1")
	be := l.backend()
	ts := hostTargets(b, be, 100)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		write(b, flat1.hosts, "")
		b.StartTimer()
		applyAll(b, be, ts)
	}
}
