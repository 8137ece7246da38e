package dnsmasq_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// plan observes and diffs one target, as the pipeline does.
func plan(t *testing.T, b *dnsmasq.Backend, tg steps.Target) steps.Change {
	t.Helper()
	live, err := b.Observe(t.Context(), []steps.Target{tg})
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Diff(tg, live[tg.ID])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// step plans and applies one target.
func step(t *testing.T, b *dnsmasq.Backend, tg steps.Target) (steps.Change, error) {
	t.Helper()
	c := plan(t, b, tg)
	if !c.Action.Writes() {
		return c, nil
	}
	_, err := b.Apply(t.Context(), c, &steptest.Progress{})
	return c, err
}

// A host record moves from flat1 to flat2: a replace that takes its line
// out of flat1's file, keeping the lines the runner has no resource for,
// and puts it into flat2's; the name then resolves at flat2 only.
func TestHostMovesBetweenSites(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	b := l.backend()
	flat1, flat2 := l.site("flat1"), l.site("flat2")
	foreign := "# a note someone left\n10.18.2.99 manual.flat1.int.mydomain\n"
	write(t, flat1.hosts, foreign)
	id := steps.ID{Kind: dnsmasq.KindHost, Name: "db"}
	on1 := steptest.Decode(t, b, dnsmasq.KindHost, `{"site": "flat1", "name": "db.int.mydomain", "ipv4": "10.18.2.7"}`)
	on2 := steptest.Decode(t, b, dnsmasq.KindHost, `{"site": "flat2", "name": "db.int.mydomain", "ipv4": "10.18.3.7"}`)

	// runner doctor's probe: every site's files and configuration.
	if call, _, err := b.Probe(t.Context()); err != nil ||
		call != "files readable, their directories writable and dnsmasq --test passes at flat1 (local), flat2 (local), hetzner (local), ovh (local)" {
		t.Errorf("probe: %q %v", call, err)
	}
	c, err := step(t, b, steps.Target{ID: id, Want: on1})
	if err != nil || c.Action != steps.Create {
		t.Fatalf("create: %s %v", c.Action, err)
	}
	if got := read(t, flat1.hosts); got != foreign+"10.18.2.7 db.int.mydomain\n" {
		t.Fatalf("flat1 hosts:\n%s", got)
	}
	flat1Only := []*labSite{flat1}
	l.waitAnswerAt(flat1Only, "db.int.mydomain", dns.TypeA, "10.18.2.7")

	c, err = step(t, b, steps.Target{ID: id, Want: on1, Last: on1})
	if err != nil || c.Action != steps.NoOp {
		t.Fatalf("again: %s %v", c.Action, err)
	}

	c, err = step(t, b, steps.Target{ID: id, Want: on2, Last: on1})
	if err != nil || c.Action != steps.Replace {
		t.Fatalf("move: %s %v %v", c.Action, err, c.Notes)
	}
	if got := read(t, flat1.hosts); got != foreign {
		t.Errorf("flat1 hosts after the move:\n%s", got)
	}
	if got := read(t, flat2.hosts); !strings.HasPrefix(got, "# Managed by gitops-runner") || !strings.HasSuffix(got, "\n10.18.3.7 db.int.mydomain\n") {
		t.Errorf("flat2 hosts:\n%s", got)
	}
	l.waitAnswerAt(flat1Only, "db.int.mydomain", dns.TypeA, "REFUSED") // no longer local, and flat1 forwards nothing
	l.waitAnswerAt([]*labSite{flat2}, "db.int.mydomain", dns.TypeA, "10.18.3.7")

	c, err = step(t, b, steps.Target{ID: id, Last: on2})
	if err != nil || c.Action != steps.Delete {
		t.Fatalf("delete: %s %v", c.Action, err)
	}
	if got := read(t, flat2.hosts); strings.Contains(got, "db.int") {
		t.Errorf("flat2 hosts after delete:\n%s", got)
	}
}

// noLeftovers fails the test if a file the backend writes next to path
// (the new content or the check configuration) is still there.
func noLeftovers(t *testing.T, path string) {
	t.Helper()
	es, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if n := e.Name(); strings.HasPrefix(n, filepath.Base(path)+".runner-") || strings.HasPrefix(n, "."+filepath.Base(path)+".tmp-") {
			t.Errorf("%s left behind in %s", n, filepath.Dir(path))
		}
	}
}

// dnsmasq --test refuses the site's configuration (an operator's typo in
// it): the change fails naming dnsmasq's message, the file is not
// replaced, nothing is left next to it, and dnsmasq is not reloaded.
func TestTestRefusalChangesNothing(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	flat1 := l.site("flat1")
	write(t, flat1.conf, read(t, flat1.conf)+"no-such-option\n")
	b := l.backend()
	write(t, flat1.servers, "# the operator's\n")
	before, logBefore := snap(t, flat1.servers), read(t, flat1.log)
	want := steptest.Decode(t, b, dnsmasq.KindForward, `{"site": "flat1", "domain": "flat2.int.mydomain", "server": "127.0.18.3", "port": 5353}`)
	_, err := step(t, b, steps.Target{ID: steps.ID{Kind: dnsmasq.KindForward, Name: "flat1-to-flat2"}, Want: want})
	var te *dnsmasq.TestError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "dnsmasq --test refused the new servers-file (nothing was changed)") ||
		!strings.Contains(err.Error(), "bad option at line") {
		t.Fatalf("err = %v", err)
	}
	if steps.IsTransient(err) {
		t.Errorf("a refusal is retried: %v", err)
	}
	if !snap(t, flat1.servers).same(before) {
		t.Errorf("servers-file changed")
	}
	noLeftovers(t, flat1.servers)
	if _, _, err := b.Probe(t.Context()); err == nil || !strings.Contains(err.Error(), "site flat1 (local): dnsmasq --test") ||
		!strings.Contains(err.Error(), "bad option") {
		t.Errorf("probe: %v", err)
	}
	if log := read(t, flat1.log); log != logBefore {
		t.Errorf("dnsmasq logged (was it reloaded?):\n%s", strings.TrimPrefix(log, logBefore))
	}
}

// A reload that fails leaves the new file in place and fails the change as
// transient; the executor's retry, which finds the file already right,
// must still reload dnsmasq (regression: it returned without reloading,
// and dnsmasq kept serving the old file).
func TestFailedReloadIsRetried(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	flat1 := l.site("flat1")
	marker := filepath.Join(t.TempDir(), "reload-fails")
	write(t, marker, "")
	b := labWith(t, l.config(), func(sites map[string]map[string]any) {
		delete(sites["flat1"], "pidFile")
		sites["flat1"]["reload"] = []string{"sh", "-c", `test ! -e "$1" && kill -HUP "$(cat "$2")"`, "sh", marker, flat1.pidFile}
	})
	want := steptest.Decode(t, b, dnsmasq.KindHost, `{"site": "flat1", "name": "tv.flat1.int.mydomain", "ipv4": "10.18.2.40"}`)
	tg := steps.Target{ID: steps.ID{Kind: dnsmasq.KindHost, Name: "tv"}, Want: want}
	ch := plan(t, b, tg)
	_, err := b.Apply(t.Context(), ch, &steptest.Progress{})
	var re *dnsmasq.ReloadError
	if !errors.As(err, &re) || !steps.IsTransient(err) {
		t.Fatalf("first attempt: %v, want a transient *ReloadError", err)
	}
	if !strings.Contains(read(t, flat1.hosts), "10.18.2.40 tv.flat1.int.mydomain") {
		t.Fatalf("the file is not in place:\n%s", read(t, flat1.hosts))
	}
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	// The executor retries the same change.
	if _, err := b.Apply(t.Context(), ch, &steptest.Progress{}); err != nil {
		t.Fatal(err)
	}
	l.waitAnswerAt([]*labSite{flat1}, "tv.flat1.int.mydomain", dns.TypeA, "10.18.2.40")
}
