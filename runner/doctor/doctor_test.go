package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClockCheck(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		server time.Time
		want   Status
	}{
		{now, OK},
		{now.Add(-59 * time.Second), OK},
		{now.Add(2 * time.Minute), Fail},
		{now.Add(-10 * time.Minute), Fail},
		{time.Time{}, Skip},
	} {
		if got := ClockCheck("x", c.server, now); got.Status != c.want {
			t.Errorf("ClockCheck(server %v): %s, want %s (%s)", c.server, got.Status, c.want, got)
		}
	}
}

type fakeProbe struct {
	err  error
	date time.Time
}

func (f fakeProbe) Probe(context.Context) (string, time.Time, error) { return "called", f.date, f.err }

func TestBackendChecks(t *testing.T) {
	now := time.Now()
	rs := BackendChecks(t.Context(), map[string]Prober{
		"a": fakeProbe{date: now},
		"b": fakeProbe{err: errors.New("401 authentication failure")},
	}, []string{"a", "b", "c"}, func() time.Time { return now })
	var lines []string
	for _, r := range rs {
		lines = append(lines, r.String())
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{"OK    backend a: called", "OK    clock a: ", "FAIL  backend b: 401 authentication failure → check the URL and credentials in backends.b", "SKIP  backend c: "} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
}

func TestWritableCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir  string
		want Status
	}{
		{dir, OK},
		{filepath.Join(dir, "new", "deeper"), OK},
		{file, Fail},
		{filepath.Join(file, "below"), Fail},
	} {
		if got := WritableCheck("d", c.dir, "stateDir"); got.Status != c.want {
			t.Errorf("WritableCheck(%s): %s", c.dir, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WritableCheck created a directory: %v", err)
	}
}
